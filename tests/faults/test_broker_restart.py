"""Stop and start the broker under a running worker (a LocalBroker of this module's own, so the session
broker is not disturbed): the worker resumes by itself within a bounded time and loses nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.localkafka.broker import QUICK_START_JVM_ARGS, LocalBroker
from tests.faults._support import (
    Watch,
    article_stream,
    assert_exactly_one_outcome_each,
    consumer_trouble,
    env_int,
    produce_inputs,
    report,
)
from tests.workers import Deployment, Worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARTICLES = env_int("WIREPIPE_FAULT_BROKER_N", 600)
RESUME_WITHIN_S = 240.0  # generous on a shared 2-core machine; the measured figure is in the report


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalBroker]:
    with LocalBroker(jvm_args=QUICK_START_JVM_ARGS) as local:
        yield local


@pytest.mark.timeout(1_500)
@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_the_worker_resumes_by_itself_after_a_broker_restart_and_loses_nothing(
    broker: LocalBroker, logs: Path, hard: bool
) -> None:
    deployment = Deployment(bootstrap=broker.bootstrap, partitions=4)
    deployment.wirepipe("topics")
    inputs = article_stream(ARTICLES)
    worker = Worker(deployment, logs, "w")
    watch = Watch(deployment)
    try:
        worker.wait_ready(timeout=300)
        produced = produce_inputs(deployment.bootstrap, deployment.topics["raw"], inputs)
        watch.wait_until_count(ARTICLES // 4, timeout_s=900, workers=[worker])
        down = time.monotonic()
        broker.restart(hard=hard)
        back = time.monotonic()
        before = watch.count(2.0)
        # Resumed: new records appear (the readers reconnect too, so count what they read after).
        resume_deadline = back + RESUME_WITHIN_S
        while watch.count(2.0) <= before:
            assert worker.process.poll() is None, worker.log_tail()
            assert time.monotonic() < resume_deadline, f"no progress {RESUME_WITHIN_S:.0f} s after restart"
        resumed = time.monotonic()
        ledger = watch.wait_all(produced, timeout_s=1_200, workers=[worker])
        alive = worker.process.poll() is None
    finally:
        worker.stop()
        watch.close()
    report(
        "broker_restart",
        hard=hard,
        broker_down_s=round(back - down, 1),
        resumed_s_after_broker_back=round(resumed - back, 1),
        consumer_warnings=consumer_trouble(worker)[:3],
        worker_log_lines=len(worker.log_path.read_bytes().splitlines()),  # repeated client lines are cut
        **ledger.summary(),
    )
    assert alive
    assert_exactly_one_outcome_each(ledger)
