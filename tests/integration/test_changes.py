"""Changes between versions of a story through a worker on the real broker (issue 24): the seed story's
update says exactly what the labels say and retracts the dropped quote before its own quotes.
(The same across a SIGKILL between the versions: tests/faults/test_changes_kill.py.)"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.brokers import consume_all
from tests.seed_versions import EXPECTED, V1, V2, what_changed
from tests.workers import Deployment, Worker

pytestmark = pytest.mark.integration


def as_uri(uri: str, value: bytes) -> bytes:
    """The message under another uri (each case is a story of its own)."""
    return json.dumps({**json.loads(value), "uri": uri}).encode()


def produce(deployment: Deployment, *values: bytes) -> None:
    deployment.wirepipe("produce", "-", input_bytes=b"\n".join(values) + b"\n")


def wait_for(deployment: Deployment, wanted: set[tuple[str, int]], timeout_s: float = 240) -> dict[Any, Any]:
    """The enriched records by (id, version), once every wanted one is there."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = consume_all(deployment.bootstrap, deployment.topics["enriched"], 0, timeout_s=10)
        found = {(o["id"], o["version"]): o for o in (json.loads(r.value) for r in records if r.value)}
        if found.keys() >= wanted or time.monotonic() > deadline:
            missing = wanted - found.keys()
            assert not missing, f"no outcome for {sorted(missing)}"
            return found
        time.sleep(1)


def _quote_records(deployment: Deployment, uri: str) -> list[dict[str, Any]]:
    records = consume_all(deployment.bootstrap, deployment.topics["quotes"], 0, timeout_s=10)
    return sorted(
        (q for q in (json.loads(r.value) for r in records if r.value) if q["article_id"] == uri),
        key=lambda q: q["processed_at"],
    )


def test_an_update_of_the_seed_story_gives_exactly_the_labelled_changes(
    deployment: Deployment, worker: Worker
) -> None:
    produce(deployment, as_uri("it:seed-a", V1))
    wait_for(deployment, {("it:seed-a", 1)})
    produce(deployment, as_uri("it:seed-a", V2))
    found = wait_for(deployment, {("it:seed-a", 2)})

    first, update = found[("it:seed-a", 1)], found[("it:seed-a", 2)]
    assert (first["outcome"], first["changes"]) == ("enriched", None)
    assert update["outcome"] == "update"
    assert what_changed(update["changes"]) == EXPECTED["changes"]


def test_the_update_retracts_the_dropped_quote_before_publishing_its_own_quotes(
    deployment: Deployment, worker: Worker
) -> None:
    quotes = _quote_records(deployment, "it:seed-a")
    v2 = [q for q in quotes if q["article_version"] == 2]
    retractions = [[q["index"], q["speaker_key"], q["status"]] for q in quotes if q["retracted"]]
    assert retractions == EXPECTED["retractions"]
    assert v2 and {q["status"] for q in v2} == {"unchanged"}
    assert all(q["article_version"] == 1 for q in quotes if q["retracted"])
