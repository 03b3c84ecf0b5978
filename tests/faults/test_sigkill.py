"""SIGKILL a worker in the middle of a stream of 2,000 articles (new stories, updates, late stale versions,
withdrawals), restart it: every input (key, version) ends with exactly one distinct outcome. And the same
with 500 corpus articles, killed once 100 outcomes are out (it was in tests/integration, where its two worker
starts and the replacement's wait for the killed member's 30 s session made it the suite's slowest test)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.brokers import consume_all
from tests.faults._support import (
    CORPUS,
    Watch,
    article_stream,
    assert_exactly_one_outcome_each,
    consumer_events,
    env_int,
    produce_inputs,
    report,
)
from tests.workers import Deployment, Worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARTICLES = env_int("WIREPIPE_FAULT_KILL_N", 2_000)


@pytest.mark.timeout(1_500)
def test_sigkill_mid_stream_then_restart_leaves_one_outcome_per_input(
    new_deployment: Callable[..., Deployment], logs: Path
) -> None:
    deployment = new_deployment(partitions=4)
    inputs = article_stream(ARTICLES)
    watch = Watch(deployment)
    first = Worker(deployment, logs, "first")
    second: Worker | None = None
    try:
        first.wait_ready(timeout=300)
        produced = produce_inputs(deployment.bootstrap, deployment.topics["raw"], inputs)
        at_kill = watch.wait_until_count(ARTICLES // 3, timeout_s=900, workers=[first])
        first.kill()
        killed_at = time.monotonic()
        second = Worker(deployment, logs, "second")
        second.wait_ready(timeout=300)
        ready_s = time.monotonic() - killed_at
        ledger = watch.wait_all(produced, timeout_s=1_200, workers=[second])
        done_s = time.monotonic() - killed_at
        assert second.process.poll() is None and '"alive"' in second.get("/health")
    finally:
        first.stop()
        if second is not None:
            second.stop()
        watch.close()
    report(
        "sigkill",
        records_at_kill=at_kill,
        restart_ready_s=round(ready_s, 1),
        all_outcomes_s_after_kill=round(done_s, 1),
        consumer_repairs=consumer_events(first, second),
        **ledger.summary(),
    )
    assert_exactly_one_outcome_each(ledger)
    assert ledger.kinds["update"] and ledger.kinds["stale"] and ledger.kinds["withdrawn"], ledger.kinds


def wait_for_every_uri(
    deployment: Deployment, uris: set[str], timeout_s: float
) -> tuple[list[Any], list[Any]]:
    """Read the outcome and dead-letter topics until every uri has a record there (or time runs out).

    Counting records is not enough: re-emits after a crash would reach a count before every uri did.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        records = consume_all(deployment.bootstrap, deployment.topics["enriched"], 0, timeout_s=10)
        letters = consume_all(deployment.bootstrap, deployment.topics["deadletter"], 0, timeout_s=5)
        seen = {json.loads(r.value)["id"] for r in records if r.value is not None}
        seen |= {json.loads(r.value)["article_id"] for r in letters}
        if uris <= seen or time.monotonic() > deadline:
            return records, letters
        time.sleep(2)


@pytest.mark.timeout(1_500)
def test_every_input_has_an_outcome_after_sigkill_mid_stream(
    new_deployment: Callable[..., Deployment], logs: Path
) -> None:
    """Kill -9 in the middle of 500 articles, restart: none lost, re-emits identical in content."""
    if not CORPUS.exists():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    deployment = new_deployment(partitions=4)
    lines = [line for line in CORPUS.read_bytes().splitlines() if line.strip()][:500]
    uris = {json.loads(line)["uri"] for line in lines}
    first = Worker(deployment, logs, "first")
    first.wait_ready()
    deployment.wirepipe("produce", "-", input_bytes=b"\n".join(lines) + b"\n")
    consume_all(deployment.bootstrap, deployment.topics["enriched"], 100, timeout_s=300)
    first.kill()
    second = Worker(deployment, logs, "second")
    try:
        second.wait_ready()
        records, letters = wait_for_every_uri(deployment, uris, timeout_s=600)
    finally:
        second.stop()
    by_uri: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.value is not None:
            data = json.loads(record.value)
            by_uri[data["id"]].append(data)
    dead = {json.loads(r.value)["article_id"] for r in letters}
    missing = uris - set(by_uri) - dead
    assert not missing, f"{len(missing)} articles lost, e.g. {sorted(missing)[:3]}"
    for uri, copies in by_uri.items():
        stable = [{k: v for k, v in c.items() if k not in ("processed_at", "timings_ms")} for c in copies]
        assert all(s == stable[0] for s in stable), f"re-emits of {uri} differ"
