"""Security: SASL/SCRAM-SHA-512 settings reach every client (Faust's aiokafka, kafka-python producer and
admin) on a broker with a SCRAM listener; wrong credentials fail fast with an authentication message;
the password never appears in logs or records; HTML parsing never fetches anything."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.envelope import Limits, Source
from pipeline.localkafka.broker import QUICK_START_JVM_ARGS, LocalBroker
from pipeline.process import ingest
from pipeline.settings import Settings
from tests.brokers import consume_all
from tests.faults._support import report
from tests.workers import Deployment, Worker

USER = "wirepipe"
PASSWORD = f"pw-{uuid.uuid4().hex}"  # unique, so a search of the logs cannot match anything else
GOOD_BODY = (
    "LONDON (Wire) - The Bank of England held interest rates on Thursday, Governor Andrew Bailey said.\n\n"
    '"We will keep a close watch on prices," Bailey told reporters in London.'
)


@pytest.fixture(scope="module")
def scram_broker() -> Iterator[LocalBroker]:
    with LocalBroker(jvm_args=QUICK_START_JVM_ARGS, scram_users={USER: PASSWORD}) as broker:
        yield broker


def _sasl_deployment(broker: LocalBroker, password: str) -> Deployment:
    return Deployment(
        bootstrap=broker.sasl_bootstrap,
        partitions=2,
        extra_env={
            "WIREPIPE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "WIREPIPE_SASL_MECHANISM": "SCRAM-SHA-512",
            "WIREPIPE_SASL_USERNAME": USER,
            "WIREPIPE_SASL_PASSWORD": password,
        },
    )


def _run(
    deployment: Deployment, *args: str, stdin: bytes = b"", timeout: float = 180
) -> tuple[int, str, float]:
    started = time.monotonic()
    done = deployment.run(*args, input_bytes=stdin, timeout=timeout)
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace"), time.monotonic() - started


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_the_worker_and_cli_work_over_scram_and_the_password_is_never_logged(
    scram_broker: LocalBroker, tmp_path: Path
) -> None:
    deployment = _sasl_deployment(scram_broker, PASSWORD)
    captured = []
    code, out, _ = _run(deployment, "topics")
    captured.append(out)
    assert code == 0, out
    worker = Worker(deployment, tmp_path, "sasl")
    try:
        worker.wait_ready(timeout=300)
        articles = [
            json.dumps({"uri": f"sasl:{n}", "headline": f"Rates {n}", "body_text": GOOD_BODY + f" Note {n}."})
            for n in range(3)
        ]
        code, out, _ = _run(
            deployment, "produce", "-", stdin="\n".join([*articles, "{not json"]).encode() + b"\n"
        )
        captured.append(out)
        assert code == 0, out
        # Read back on the broker's plaintext listener: the worker itself only knows the SCRAM one.
        enriched = consume_all(scram_broker.bootstrap, deployment.topics["enriched"], 3, timeout_s=300)
        letters = consume_all(scram_broker.bootstrap, deployment.topics["deadletter"], 1, timeout_s=60)
    finally:
        worker.stop()
    assert {json.loads(r.value)["id"] for r in enriched if r.value} == {f"sasl:{n}" for n in range(3)}
    assert len(letters) == 1
    texts = [worker.log_path.read_text(errors="replace"), *captured]
    texts += [(r.value or b"").decode(errors="replace") for r in [*enriched, *letters]]
    assert all(PASSWORD not in text for text in texts)
    assert '"worker.starting"' in texts[0], "the worker log was captured"


@pytest.mark.integration
@pytest.mark.timeout(900)
@pytest.mark.parametrize("command", ["topics", "produce", "worker"])
def test_wrong_credentials_fail_fast_with_an_authentication_error(
    scram_broker: LocalBroker, command: str
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    deployment = _sasl_deployment(scram_broker, wrong)
    args = [command, "-"] if command == "produce" else [command]
    code, out, seconds = _run(deployment, *args, stdin=b'{"uri": "x", "body_text": "y"}\n', timeout=180)
    report("wrong_password", command=command, exit_code=code, seconds=round(seconds, 1))
    assert code != 0
    # The broker either answers with an authentication error or just closes the socket (both seen with
    # Kafka 4.4); either way the command must end with an error that names the credentials, not hang.
    explained = "are the credentials and TLS settings right?" in out
    assert explained or "Authentication failed" in out or "SaslAuthenticationFailed" in out, out[-2000:]
    assert wrong not in out


def test_settings_keep_the_password_secret_in_repr_and_dumps() -> None:
    settings = Settings(sasl_password="hunter2-secret")
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings.model_dump())
    assert "hunter2-secret" not in settings.model_dump_json()


class _Counting(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012 - one server per test, read after it stops

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<p>fetched</p>")

    def log_message(self, *args: object) -> None:
        return


def test_html_parsing_never_fetches_anything() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    markup = (
        f'<!DOCTYPE html [<!ENTITY ext SYSTEM "{url}/entity">]><html><head><base href="{url}/base/">'
        f'<link rel="stylesheet" href="{url}/css"><meta http-equiv="refresh" content="0;url={url}/refresh">'
        f'<script src="{url}/js"></script><style>@import url("{url}/import");</style></head><body>'
        f"<p>Rates were held on Thursday, the governor said. &ext;</p>"
        f'<img src="{url}/img" srcset="{url}/set 2x">'
        f'<iframe src="{url}/frame"></iframe><object data="{url}/object"></object><embed src="{url}/embed">'
        f'<video poster="{url}/poster"><source src="{url}/video"></video><svg><image href="{url}/svg"/></svg>'
        f"<p>More text about rates in London.</p></body></html>"
    )
    try:
        for field in ("body_html", "body_xhtml"):
            value = json.dumps({"uri": f"fetch:{field}", "url": f"{url}/page", field: markup}).encode()
            step = ingest(Source(value=value), {}, Limits())
            assert "Rates were held" in step.article.body  # type: ignore[union-attr]
        time.sleep(0.5)
    finally:
        server.shutdown()
    assert _Counting.hits == []
