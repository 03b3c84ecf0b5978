"""SIGKILL a worker in the middle of a stream of 2,000 articles (new stories, updates, late stale versions,
withdrawals), restart it: every input (key, version) ends with exactly one distinct outcome."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults._support import (
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
