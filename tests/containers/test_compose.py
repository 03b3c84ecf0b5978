"""docker-compose.yml end to end, as an operator runs it: `up --scale worker=3` with the monitoring profile,
articles produced from the host, a worker container killed mid-stream, a scale-down, `down -v`.

The tests share one stack and run in file order (each step builds on the one before). The demo set and
1,000 inputs from the shared corpus go through three workers; then 637 more corpus articles, of which a
worker container is SIGKILLed mid-stream before the stack is scaled to one worker. Every input must end
in exactly one outcome (identical re-emits allowed and counted), and Prometheus must count the same.
Costs about 10 minutes on 2 cores (the stack start, about 1,650 articles of NLP, the teardown).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.containers.stack import ROOT, Stack, volumes
from tests.faults._support import (
    Input,
    Ledger,
    TopicReader,
    article_stream,
    assert_exactly_one_outcome_each,
    corpus,
    produce_inputs,
    report,
)

pytestmark = pytest.mark.containers

WORKERS = 3
FIRST = 1000  # corpus inputs through three workers (with updates, withdrawals and stale re-sends)
RAW, ENRICHED, DEADLETTER = "wirepipe.raw", "wirepipe.enriched.v1", "wirepipe.deadletter.v1"
KILL_AFTER = 150  # outcomes of the second batch before a worker is killed: mid-stream, not at its start


def demo_inputs() -> list[Input]:
    """examples/demo.jsonl as inputs: stories, an update, a withdrawal, a copy and two bad lines."""
    inputs = []
    for line in (ROOT / "examples" / "demo.jsonl").read_bytes().splitlines():
        try:
            data = json.loads(line)
            uri, version = str(data["uri"]), int(data.get("version", 1))
        except (ValueError, TypeError, KeyError):
            uri, version = "", -1  # a dead letter: found by its raw partition and offset
        inputs.append(Input(line, uri, version, uri, "demo"))
    return inputs


def second_batch() -> list[Input]:
    """The corpus articles the first batch did not use, as new stories."""
    used = {i.uri for i in article_stream(FIRST)}
    return [
        Input(json.dumps(a).encode(), a["uri"], int(a.get("version", 1)), a["uri"], "new")
        for a in corpus()
        if a["uri"] not in used
    ]


class Outcomes:
    """The stack's enriched and dead-letter topics read from the host, and the ledger of every input."""

    def __init__(self, bootstrap: str) -> None:
        self.enriched = TopicReader(bootstrap, ENRICHED)
        self.deadletter = TopicReader(bootstrap, DEADLETTER)
        self.ledger = Ledger(RAW, [])

    def read(self, inputs: list[Input], seconds: float = 2.0) -> Ledger:
        self.enriched.poll(seconds / 2)
        self.deadletter.poll(seconds / 2)
        self.ledger.inputs = inputs
        self.ledger.read(self.enriched.records, self.deadletter.records)
        return self.ledger

    def wait_all(self, inputs: list[Input], timeout_s: float) -> Ledger:
        deadline = time.monotonic() + timeout_s
        while self.read(inputs).missing() and time.monotonic() < deadline:
            pass
        return self.read(inputs)  # stragglers already on their way (re-emits, tombstones)

    def close(self) -> None:
        self.enriched.close()
        self.deadletter.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack()
    try:
        yield s
    finally:
        s.compose("--profile", "monitoring", "down", "-v", "--remove-orphans", "--timeout", "30", check=False)


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What one step leaves for the next (inputs produced so far, figures)."""
    return {}


def test_the_stack_comes_up_with_three_healthy_workers_and_prometheus(
    stack: Stack, state: dict[str, Any]
) -> None:
    started = time.monotonic()
    stack.compose("--profile", "monitoring", "up", "-d", "--scale", f"worker={WORKERS}")
    kafka_s = stack.wait_healthy("kafka", 1)
    workers_s = stack.wait_healthy("worker", WORKERS)
    state["up_s"] = round(time.monotonic() - started, 1)
    report(
        "compose_up",
        up_to_all_workers_healthy_s=state["up_s"],
        kafka_healthy_s=round(kafka_s, 1),
        workers_healthy_after_kafka_s=round(workers_s, 1),
    )
    assert len(stack.containers("prometheus")) == 1
    (topics,) = stack.containers("topics", running_only=False)
    assert topics["State"]["ExitCode"] == 0


def test_every_input_gets_exactly_one_outcome_through_three_workers(
    stack: Stack, state: dict[str, Any]
) -> None:
    inputs = demo_inputs() + article_stream(FIRST)
    outcomes = Outcomes(stack.bootstrap)
    started = time.monotonic()
    try:
        produced = produce_inputs(stack.bootstrap, RAW, inputs)
        ledger = outcomes.wait_all(produced, timeout_s=1200)
    finally:
        outcomes.close()
    seconds = time.monotonic() - started
    state["produced"] = produced
    state["first_ledger"] = ledger.summary()
    report(
        "compose_three_workers",
        seconds=round(seconds, 1),
        articles_per_s=round(len(inputs) / seconds, 2),
        **ledger.summary(),
    )
    assert_exactly_one_outcome_each(ledger)
    assert ledger.kinds["enriched"] > FIRST // 2 and ledger.codes  # the demo's bad lines are dead letters


def test_prometheus_scrapes_every_worker_and_counts_every_input(stack: Stack, state: dict[str, Any]) -> None:
    """Targets through Docker DNS (`dns_sd_configs` on `worker`); the counters add up to the ledger."""
    summary = state["first_ledger"]
    expected = len(state["produced"]) + summary["re_emitted_copies"]
    deadline = time.monotonic() + 300  # scrapes and DNS refreshes every 15 s; slow DNS under load retries
    while True:
        targets = stack.prometheus("/api/v1/targets")["activeTargets"]
        up = [t for t in targets if t["labels"].get("job") == "wirepipe-worker" and t["health"] == "up"]
        counted = [
            stack.prometheus("/api/v1/query", query=f"sum({metric})")["result"]
            for metric in ("wirepipe_outcomes_total", "wirepipe_dead_letters_total")
        ]
        total = sum(float(r[0]["value"][1]) for r in counted if r)
        if (len(up) == WORKERS and total == expected) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert len(up) == WORKERS, [(t["scrapeUrl"], t["health"], t.get("lastError")) for t in targets]
    assert total == expected, f"Prometheus counts {total} outcomes and dead letters for {expected}"


def test_a_worker_killed_mid_stream_then_scaling_to_one_loses_nothing(
    stack: Stack, state: dict[str, Any]
) -> None:
    batch = second_batch()
    outcomes = Outcomes(stack.bootstrap)
    try:
        produced = state["produced"] + produce_inputs(stack.bootstrap, RAW, batch)
        done_before = len(state["produced"])
        deadline = time.monotonic() + 600
        while len(produced) - len(outcomes.read(produced).missing()) < done_before + KILL_AFTER:
            assert time.monotonic() < deadline, "the second batch did not get going"
        victim = stack.containers("worker")[0]
        stack.kill(victim)
        killed_at = time.monotonic()
        left = len(outcomes.read(produced).missing())
        stack.compose("--profile", "monitoring", "up", "-d", "--no-recreate", "--scale", "worker=1")
        ledger = outcomes.wait_all(produced, timeout_s=1200)
        recovered_s = time.monotonic() - killed_at
    finally:
        outcomes.close()
    report(
        "compose_kill_and_scale_down",
        killed=victim["Name"],
        inputs_left_at_kill=left,
        seconds_to_all_outcomes=round(recovered_s, 1),
        **ledger.summary(),
    )
    assert_exactly_one_outcome_each(ledger)  # nothing lost; a re-emit is identical or this fails
    assert left > 0, "the kill landed after the stream had finished: not mid-stream"
    assert len(stack.containers("worker")) == 1


def test_compose_down_v_leaves_no_container_network_or_volume(stack: Stack) -> None:
    mounted = stack.volumes_in_use()  # named and anonymous (the Kafka and Prometheus images declare VOLUMEs)
    assert len(mounted) >= 3
    stack.compose("--profile", "monitoring", "down", "-v", "--remove-orphans", "--timeout", "30")
    assert stack.leftovers() == {"containers": [], "networks": [], "volumes": []}
    left = mounted & volumes()
    assert not left, f"volumes left behind: {sorted(left)}"
