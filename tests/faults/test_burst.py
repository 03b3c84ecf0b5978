"""A burst: WIREPIPE_BURST_N articles (the issue's 10,000 by default; set fewer for a quick run) produced
while no worker runs, then one worker starts: all processed, memory bounded, and no consumer-group trouble
(failed commits or heartbeats, poll-interval evictions, repeated rebalances) in its log."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults._support import (
    RssSampler,
    Watch,
    article_stream,
    assert_exactly_one_outcome_each,
    consumer_trouble,
    env_int,
    log_events,
    produce_inputs,
    report,
)
from tests.workers import Deployment, Worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BURST = env_int("WIREPIPE_BURST_N", 10_000)
# spaCy's small English model and the worker's tables: about 0.6 GB measured; 2 GB means a leak.
MAX_RSS = env_int("WIREPIPE_BURST_MAX_RSS_MB", 2_048) * 1_000_000


@pytest.mark.timeout(600 + BURST // 2)
def test_a_burst_produced_while_down_is_processed_with_bounded_memory_and_no_group_trouble(
    new_deployment: Callable[..., Deployment], logs: Path
) -> None:
    deployment = new_deployment(partitions=4)
    produced = produce_inputs(deployment.bootstrap, deployment.topics["raw"], article_stream(BURST))
    watch = Watch(deployment)
    started = time.monotonic()
    worker = Worker(deployment, logs, "burst")
    sampler = RssSampler(worker.process.pid)
    try:
        ready_s = worker.wait_ready(timeout=300)
        ledger = watch.wait_all(produced, timeout_s=300 + BURST / 5, workers=[worker])
        elapsed = time.monotonic() - started
        alive = worker.process.poll() is None
    finally:
        peak = sampler.stop()
        worker.stop()
        watch.close()
    assigned = [e for e in log_events(worker) if e.get("event") == "worker.partitions_assigned"]
    trouble = consumer_trouble(worker)
    report(
        "burst",
        articles=BURST,
        ready_s=round(ready_s, 1),
        all_outcomes_s=round(elapsed, 1),
        articles_per_s=round(BURST / elapsed, 1),
        peak_rss_mb=round(peak / 1e6),
        final_rss_mb=round(sampler.samples[-1] / 1e6) if sampler.samples else None,
        assignments=len(assigned),
        consumer_trouble=trouble[:5],
        **ledger.summary(),
    )
    assert alive
    assert_exactly_one_outcome_each(ledger)
    assert not trouble, trouble[:5]
    assert len(assigned) == 1, f"{len(assigned)} assignments: the group rebalanced during the burst"
    assert 0 < peak < MAX_RSS
