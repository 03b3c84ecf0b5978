"""The worker on a real broker: enrichment, dead letters for hostile input and after ingest, table writes in
the partition of their article. The worker is the session's shared one (tests/integration/shared_worker.py):
each test produces uris of its own and reads back only the records of those. (SIGKILL mid-stream is a fault
test: tests/faults/test_sigkill.py.)"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from tests.brokers import consume_all
from tests.brokers import produce as broker_produce
from tests.workers import Deployment, Worker

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent.parent / "data"


def ninjs(uri: str, body: str, **fields: Any) -> bytes:
    return json.dumps(
        {"uri": uri, "version": 1, "headline": f"Headline of {uri}", "body_text": body, **fields}
    ).encode()


GOOD_BODY = (
    "LONDON (Wire) - The Bank of England held interest rates on Thursday, Governor Andrew Bailey said.\n\n"
    '"We will keep a close watch on prices," Bailey told reporters in London.'
)


def test_the_topics_command_creates_every_topic_the_worker_uses_with_its_partition_count(
    kafka_bootstrap: str,
) -> None:
    fresh = Deployment(bootstrap=kafka_bootstrap, partitions=3)
    fresh.wirepipe("topics")
    app = f"wirepipe-test-{fresh.run_id}"
    expected = {
        **dict.fromkeys(fresh.topics.values(), 3),
        f"{app}.dedup": 1,
        f"{app}.nlp": 3,
        f"{app}-versions-changelog": 3,
        f"{app}-dedup-index-changelog": 1,
        f"{app}-stories-changelog": 3,
    }
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        found = {topic: len(consumer.partitions_for_topic(topic) or ()) for topic in expected}
    finally:
        consumer.close()
    assert found == expected


def produce(deployment: Deployment, values: list[bytes]) -> None:
    deployment.wirepipe("produce", "-", input_bytes=b"\n".join(values) + b"\n")


def outcomes(deployment: Deployment, at_least: int, timeout_s: float = 120) -> list[dict[str, Any]]:
    records = consume_all(deployment.bootstrap, deployment.topics["enriched"], at_least, timeout_s)
    return [json.loads(r.value) for r in records if r.value is not None]


def dead_letters(deployment: Deployment, at_least: int, timeout_s: float = 120) -> list[dict[str, Any]]:
    records = consume_all(deployment.bootstrap, deployment.topics["deadletter"], at_least, timeout_s)
    return [json.loads(r.value) for r in records]


def records_of(
    deployment: Deployment,
    topic: str,
    ours: Callable[[dict[str, Any]], bool],
    at_least: int,
    timeout_s: float = 120,
) -> list[dict[str, Any]]:
    """Every record of ``topic`` that ``ours`` picks, read until there are at least ``at_least`` of them
    (or time is up): the shared worker's topics hold other tests' records as well."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = consume_all(deployment.bootstrap, deployment.topics[topic], 0, timeout_s=10)
        picked = [record for r in found if r.value is not None and ours(record := json.loads(r.value))]
        if len(picked) >= at_least or time.monotonic() > deadline:
            return picked
        time.sleep(0.5)


def test_a_produced_article_arrives_enriched_with_its_entities(
    deployment: Deployment, worker: Worker
) -> None:
    broker_produce(
        deployment.bootstrap,
        deployment.topics["raw"],
        [(b"it:enriched-1", ninjs("it:enriched-1", GOOD_BODY))],
    )
    record = next(o for o in records_of(deployment, "enriched", lambda o: o["id"] == "it:enriched-1", 1))
    assert record["outcome"] == "enriched"
    assert record["schema_version"] == "1"
    names = {e["name"] for e in record["entities"]}
    assert any("Bailey" in n for n in names), names
    assert record["paragraphs"], "the clean body is paragraphed"


def test_hostile_inputs_each_give_one_dead_letter_and_the_worker_keeps_consuming(
    deployment: Deployment, worker: Worker
) -> None:
    """The 2 MB body limit and the nesting limit are the defaults from settings."""
    hostile = {
        "not-json": b"{this is not json",
        "bad-utf8": b'{"uri": "it:bad-utf8", "body_text": "caf\xe9 \xff\xfe"}',
        "wrong-type": json.dumps({"uri": "it:wrong-type", "version": "two", "body_text": "x"}).encode(),
        "no-body": json.dumps({"uri": "it:no-body", "type": "picture", "headline": "A photo"}).encode(),
        "5mb-body": ninjs("it:5mb", "word " * 1_000_000),
        "deep-html": json.dumps(
            {"uri": "it:deep", "body_html": "<div>" * 20_000 + "text" + "</div>" * 20_000}
        ).encode(),
    }
    expected_codes = {
        "not-json": "E_DECODE_JSON",
        "bad-utf8": "E_DECODE_UTF8",
        "wrong-type": "E_VALIDATE",
        "no-body": "E_NO_TEXT_BODY",
        "5mb-body": "E_TOO_LARGE",
        "deep-html": "E_CLEAN_HOSTILE",
    }
    produce(
        deployment, [*hostile.values(), ninjs("it:after-hostile", GOOD_BODY.replace("Thursday", "Friday"))]
    )
    ours = set(hostile.values())
    letters = records_of(
        deployment, "deadletter", lambda d: base64.b64decode(d["original_b64"]) in ours, len(hostile)
    )
    originals = {base64.b64decode(d["original_b64"]): d for d in letters}
    for name, value in hostile.items():
        assert value in originals, f"no dead letter for {name}"
        assert originals[value]["error_code"] == expected_codes[name], (name, originals[value]["message"])
    assert Counter(base64.b64decode(d["original_b64"]) for d in letters).most_common(1)[0][1] == 1
    after = records_of(deployment, "enriched", lambda o: o["id"] == "it:after-hostile", 1)
    assert after and after[0]["outcome"] == "enriched", "the worker consumed past the hostile messages"
    assert worker.process.poll() is None


def test_a_dead_letter_raised_after_ingest_carries_the_original_message_read_back_from_the_raw_topic(
    deployment: Deployment, worker: Worker
) -> None:
    """Envelopes do not carry the original bytes: the dead letter reads them back by partition and offset
    (here the dedup step fails on an envelope whose dedup key is broken; one more names an offset the raw
    topic never had, and says so)."""
    original = ninjs("it:read-back", GOOD_BODY.replace("Thursday", "Monday"))
    placed = broker_produce(deployment.bootstrap, deployment.topics["raw"], [(b"it:read-back", original)])[0]
    app = deployment.env()["WIREPIPE_APP_ID"]

    def broken(uri: str, offset: int) -> bytes:
        header = {
            "uri": uri,
            "action": "enriched",
            "raw_pubstatus": "usable",
            "key": "not a dedup key",
            "timings_ms": {},
            "source_topic": deployment.topics["raw"],
            "source_partition": placed.partition,
            "source_offset": offset,
        }
        article = {"uri": uri, "version": 1, "body": "x"}
        return json.dumps(header).encode() + b"\n" + json.dumps(article).encode()

    broker_produce(
        deployment.bootstrap,
        f"{app}.dedup",
        [(b"index", broken("it:read-back", placed.offset)), (b"index", broken("it:gone", 10**9))],
    )
    deadline = time.monotonic() + 120
    letters: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and not {"it:read-back", "it:gone"} <= letters.keys():
        found = dead_letters(deployment, 0, timeout_s=5)
        letters = {d["article_id"]: d for d in found if d.get("article_id")}
        time.sleep(1)
    letter = letters["it:read-back"]
    assert (letter["error_code"], letter["stage"]) == ("E_INTERNAL", "dedup")
    assert base64.b64decode(letter["original_b64"]) == original
    assert (letter["partition"], letter["offset"]) == (placed.partition, placed.offset)
    gone = letters["it:gone"]
    assert gone["original_b64"] == "" and "not read back" in gone["message"]


def test_table_changes_made_in_a_batch_go_to_the_changelog_partition_of_their_own_article(
    deployment: Deployment, worker: Worker
) -> None:
    """The agents take batches of events from several partitions; a table write must still land in the
    partition of the event it is for (versions by raw partition, stories by nlp partition, which
    is the same for a uri), or the worker that takes that partition over would not find it."""
    values = [ninjs(f"it:batch-{i}", GOOD_BODY.replace("Thursday", f"day {i}")) for i in range(24)]
    placed = broker_produce(
        deployment.bootstrap,
        deployment.topics["raw"],
        [(f"it:batch-{i}".encode(), v) for i, v in enumerate(values)],
    )
    assert len({r.partition for r in placed}) > 1, "the test needs articles on several partitions"
    wanted = {f"it:batch-{i}" for i in range(24)}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not wanted <= {o["id"] for o in outcomes(deployment, 0, 5)}:
        time.sleep(1)
    app = deployment.env()["WIREPIPE_APP_ID"]
    partition_of = {r.key: r.partition for r in placed}
    for table in ("versions", "stories"):
        changes = consume_all(deployment.bootstrap, f"{app}-{table}-changelog", 0, timeout_s=10)
        ours = [(json.loads(c.key or b"null"), c.partition) for c in changes]
        ours = [(uri, partition) for uri, partition in ours if uri in wanted]
        assert {uri for uri, _ in ours} == wanted, table
        assert all(partition == partition_of[uri.encode()] for uri, partition in ours), table
