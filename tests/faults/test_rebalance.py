"""Rebalance mid-stream: a second worker joins, then the first stops gracefully. Nothing is lost, and the
dedup index moved with its partition: exact copies of earlier articles, produced after the first worker
left, are ``duplicate`` of their originals."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults._support import (
    Input,
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

ARTICLES = env_int("WIREPIPE_FAULT_REBALANCE_N", 800)
COPIES = 100


def _copies(watch: Watch, inputs: list[Input], specials: set[str]) -> list[Input]:
    """Exact copies (new uri, same content) of articles already published as unique ``enriched``."""
    published = {}
    for key, value, _, _ in watch.enriched.records:
        if value is not None:
            data = json.loads(value)
            if data["outcome"] == "enriched" and data["duplicate"]["status"] == "unique":
                published[(key or b"").decode()] = data
    originals = [i for i in inputs if i.kind == "new" and i.uri in published and i.uri not in specials]
    assert len(originals) >= COPIES, f"only {len(originals)} unique originals published so far"
    out = []
    for i in originals[:COPIES]:
        data = {**json.loads(i.value), "uri": f"copy:{i.uri}"}
        out.append(Input(json.dumps(data).encode(), data["uri"], i.version, data["uri"], f"copy-of:{i.uri}"))
    return out


@pytest.mark.timeout(1_800)
def test_a_worker_joins_and_the_first_leaves_mid_stream_without_loss_and_dedup_state_moves(
    new_deployment: Callable[..., Deployment], logs: Path
) -> None:
    deployment = new_deployment(partitions=4)
    inputs = article_stream(ARTICLES)
    specials = {i.uri for i in inputs if i.kind != "new"}
    watch = Watch(deployment)
    first = Worker(deployment, logs, "first")
    second: Worker | None = None
    try:
        first.wait_ready(timeout=300)
        produced = produce_inputs(deployment.bootstrap, deployment.topics["raw"], inputs)
        at_join = watch.wait_until_count(ARTICLES // 4, timeout_s=900, workers=[first])
        second = Worker(deployment, logs, "second")
        second.wait_ready(timeout=300)
        at_leave = watch.wait_until_count(ARTICLES // 2, timeout_s=900, workers=[first, second])
        first.stop()
        assert first.process.returncode is not None
        copies = _copies(watch, produced, specials)
        produced += produce_inputs(deployment.bootstrap, deployment.topics["raw"], copies)
        left_at = time.monotonic()
        ledger = watch.wait_all(produced, timeout_s=1_200, workers=[second])
        done_s = time.monotonic() - left_at
        alive = second.process.poll() is None
    finally:
        first.stop()
        if second is not None:
            second.stop()
        watch.close()
    verdicts = {}
    for key, value, _, _ in watch.enriched.records:
        if value is not None and (key or b"").startswith(b"copy:"):
            data = json.loads(value)
            verdicts[data["id"]] = (data["outcome"], data["duplicate"]["duplicate_of"])
    wrong = {uri: v for uri, v in verdicts.items() if v != ("duplicate", uri.removeprefix("copy:"))}
    report(
        "rebalance",
        records_at_join=at_join,
        records_at_leave=at_leave,
        copies=len(copies),
        copies_duplicate=sum(v[0] == "duplicate" for v in verdicts.values()),
        all_outcomes_s_after_leave=round(done_s, 1),
        consumer_repairs=consumer_events(first, second),
        **ledger.summary(),
    )
    assert alive
    assert_exactly_one_outcome_each(ledger)
    assert len(verdicts) == COPIES and not wrong, list(wrong.items())[:5]
