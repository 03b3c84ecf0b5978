"""The NLP step in its child process (pipeline.stream.nlp_process): batches in order, a model that cannot
load, a child that dies, and no child left behind by a killed worker. No broker; every child loads the spaCy
model (about 3-5 s each). The module's NLP process serves the batch test and is the one the death test
kills, so the file loads the model three times: that child, its replacement, and the killed worker's child."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pipeline.envelope import Envelope, Limits, Source
from pipeline.process import check_duplicate, ingest
from pipeline.settings import Settings
from pipeline.stages.analysis import ModelError
from pipeline.stream.nlp_process import NlpConfig, NlpProcess, NlpProcessDiedError, Unreadable
from pipeline.stream.outputs import Published
from tests.workers import ROOT

pytestmark = pytest.mark.integration

BODY = (
    "LONDON (Wire) - The Bank of England held interest rates on Thursday, Governor Andrew Bailey said.\n\n"
    '"We will keep a close watch on prices," Bailey told reporters in London.'
)


def _wire(uri: str) -> bytes:
    value = json.dumps({"uri": uri, "version": 1, "headline": f"About {uri}", "body_text": BODY}).encode()
    envelope = ingest(Source(value=value, topic="raw", partition=0, offset=1), {}, Limits())
    assert isinstance(envelope, Envelope)
    return check_duplicate(envelope, {}, Limits()).to_wire()


@pytest.fixture(scope="module")
def nlp() -> Iterator[NlpProcess]:
    process = NlpProcess(NlpConfig(model=Settings().spacy_model, batch_size=4, log_format="json"))
    process.start()
    try:
        yield process
    finally:
        process.close()


def test_a_batch_comes_back_in_order_as_records_ready_to_send_and_a_bad_value_in_its_place(
    nlp: NlpProcess,
) -> None:
    results = asyncio.run(nlp.finish([_wire("urn:a"), b"not an envelope", _wire("urn:b")]))

    assert isinstance(results[0], Published) and results[0].article_id == "urn:a"
    assert isinstance(results[1], Unreadable) and "not an envelope" in results[1].error
    assert isinstance(results[2], Published) and results[2].article_id == "urn:b"
    enriched = json.loads(results[0].records[0].value or b"")
    assert any("Bailey" in e["name"] for e in enriched["entities"])
    quotes = [r for r in results[0].records if r.topic == "quotes"]
    assert quotes, "the quote was found and keyed by its speaker"
    assert nlp.total_cpu_seconds() > 0


def test_a_model_that_cannot_be_loaded_stops_the_start_with_its_reason() -> None:
    process = NlpProcess(NlpConfig(model="no_such_model_xyz", batch_size=4))
    with pytest.raises(ModelError, match="no_such_model_xyz"):
        process.start()


def test_a_child_that_dies_fails_its_batch_and_the_next_batch_gets_a_new_one(nlp: NlpProcess) -> None:
    restarts, first = nlp.restarts, nlp.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with pytest.raises(NlpProcessDiedError):
        asyncio.run(nlp.finish([_wire("urn:c")]))
    results = asyncio.run(nlp.finish([_wire("urn:c")]))
    assert isinstance(results[0], Published)
    assert nlp.restarts == restarts + 1 and nlp.pid != first


def test_the_child_dies_with_a_worker_that_is_killed() -> None:
    """SIGKILL gives the worker no chance to stop its pool: the child must go by itself."""
    script = (
        "from pipeline.settings import Settings\n"
        "from pipeline.stream.nlp_process import NlpConfig, NlpProcess\n"
        "p = NlpProcess(NlpConfig(model=Settings().spacy_model, batch_size=4, log_format='json'))\n"
        "p.start(); print(p.pid, flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(child, 0)  # alive
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.2)
        assert not _alive(child), f"NLP process {child} outlived its killed worker"
    finally:
        if parent.poll() is None:
            parent.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except OSError:
        return False
