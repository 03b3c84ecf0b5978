"""Deduplication in the stream: copies of one story on different raw partitions (and workers) get one
``enriched`` and ``duplicate`` for the rest, and the index survives a restart of every worker."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from kafka.partitioner.default import murmur2

from tests.brokers import consume_all
from tests.workers import Deployment, Worker, deploy

pytestmark = pytest.mark.integration

PARTITIONS = 8
_WORDS = [
    *("harbour", "grain", "tariff", "council", "minister", "river", "freight", "bond", "yield"),
    *("drought", "vaccine", "rail", "strike", "election", "budget", "coalition", "refinery", "port"),
    *("wheat", "copper", "turbine", "pension", "court", "appeal", "senate", "inflation", "ceasefire"),
]


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(12)).capitalize() + "."


STORY_SENTENCES = [_sentence(random.Random(i)) for i in range(30)]  # ~360 words: one sentence is ~5%


def story(uri: str, changed_sentence: int | None = None) -> bytes:
    """The story under ``uri``; with ``changed_sentence``, that sentence is replaced (a near copy)."""
    sentences = list(STORY_SENTENCES)
    if changed_sentence is not None:
        sentences[changed_sentence] = "Officials declined to comment on the figures released on Tuesday."
    body = "PARIS (Wire) - " + " ".join(sentences)
    record = {"uri": uri, "version": 1, "headline": "Harbour strike spreads", "body_text": body}
    return json.dumps(record).encode()


def raw_partition(uri: str) -> int:
    """Where the producer's default partitioner (murmur2 of the key, like Java's) puts ``uri``."""
    return (murmur2(uri.encode()) & 0x7FFFFFFF) % PARTITIONS


def one_uri_per_partition(prefix: str) -> list[str]:
    """A uri for each raw partition, so copies reach every partition and so both workers."""
    by_partition: dict[int, str] = {}
    for i in count():
        uri = f"{prefix}-{i}"
        by_partition.setdefault(raw_partition(uri), uri)
        if len(by_partition) == PARTITIONS:
            return [by_partition[p] for p in range(PARTITIONS)]
    raise AssertionError("unreachable")


COPIES = one_uri_per_partition("dedup:copy")
NEAR_COPY = "dedup:near-1"


def produce(deployment: Deployment, values: list[bytes]) -> None:
    deployment.wirepipe("produce", "-", input_bytes=b"\n".join(values) + b"\n")


def latest_outcomes(deployment: Deployment, uris: Iterable[str], timeout_s: float = 300) -> dict[str, Any]:
    """The last outcome per uri, once every uri in ``uris`` has one (or the time is up).

    Waiting for uris, not a record count: a re-emit after a rebalance (identical in content) counts too.
    """
    wanted = set(uris)
    deadline = time.monotonic() + timeout_s
    while True:
        records = consume_all(deployment.bootstrap, deployment.topics["enriched"], 0, timeout_s=30)
        outcomes = {o["id"]: o for o in (json.loads(r.value) for r in records if r.value is not None)}
        if wanted <= set(outcomes) or time.monotonic() > deadline:
            return outcomes
        time.sleep(1)


def start_workers(deployment: Deployment, logs: Path, names: tuple[str, ...]) -> list[Worker]:
    workers = [Worker(deployment, logs, name) for name in names]
    for worker in workers:
        worker.wait_ready(timeout=600)
    return workers


@pytest.fixture(scope="module")
def deployment(kafka_bootstrap: str) -> Deployment:
    return deploy(kafka_bootstrap, PARTITIONS)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dedup-stream")


@pytest.fixture(scope="module")
def first_workers(deployment: Deployment, logs: Path) -> Iterator[list[Worker]]:
    workers = start_workers(deployment, logs, ("a1", "a2"))
    try:
        yield workers
    finally:
        for worker in workers:
            worker.stop()


@pytest.fixture(scope="module")
def first_run(deployment: Deployment, first_workers: list[Worker]) -> dict[str, dict[str, Any]]:
    """Eight exact copies (one per raw partition) and one near copy, through two workers."""
    produce(deployment, [*(story(uri) for uri in COPIES), story(NEAR_COPY, changed_sentence=3)])
    outcomes = latest_outcomes(deployment, [*COPIES, NEAR_COPY])
    assert set(outcomes) == {*COPIES, NEAR_COPY}, [w.log_tail() for w in first_workers]
    return outcomes


def original(outcomes: dict[str, dict[str, Any]]) -> str:
    enriched = [uri for uri in COPIES if outcomes[uri]["outcome"] == "enriched"]
    assert len(enriched) == 1, {uri: outcomes[uri]["outcome"] for uri in COPIES}
    return enriched[0]


def test_copies_on_every_partition_give_one_enriched_and_duplicates_of_it(
    deployment: Deployment, first_run: dict[str, dict[str, Any]]
) -> None:
    landed = consume_all(deployment.bootstrap, deployment.topics["raw"], len(COPIES) + 1, timeout_s=60)
    partitions = {r.key.decode(): r.partition for r in landed if r.key is not None}
    assert sorted(partitions[uri] for uri in COPIES) == list(range(PARTITIONS))
    first = original(first_run)
    assert first_run[first]["duplicate"]["status"] == "unique"
    for uri in COPIES:
        if uri != first:
            verdict = first_run[uri]["duplicate"]
            assert first_run[uri]["outcome"] == "duplicate", uri
            assert (verdict["status"], verdict["duplicate_of"], verdict["similarity"]) == (
                "duplicate",
                first,
                1.0,
            ), uri
            assert first_run[uri]["entities"] == [], "no NLP is spent on a duplicate"


def test_a_near_copy_with_one_sentence_changed_is_a_near_duplicate(
    first_run: dict[str, dict[str, Any]],
) -> None:
    near = first_run[NEAR_COPY]
    assert near["outcome"] == "duplicate"
    assert near["duplicate"]["status"] == "near_duplicate"
    assert near["duplicate"]["duplicate_of"] == original(first_run)
    assert 0.8 <= near["duplicate"]["similarity"] < 1.0


def test_after_every_worker_restarts_a_new_copy_is_still_a_duplicate(
    deployment: Deployment,
    logs: Path,
    first_workers: list[Worker],
    first_run: dict[str, dict[str, Any]],
) -> None:
    """Graceful stop of both workers, two new ones (fresh data dirs): the index comes back from its
    changelog, so an exact copy and another near copy under new uris are recognised."""
    first = original(first_run)
    for worker in first_workers:
        worker.stop()
    second = start_workers(deployment, logs, ("b1", "b2"))
    try:
        produce(deployment, [story("dedup:after-restart"), story("dedup:near-2", changed_sentence=20)])
        outcomes = latest_outcomes(deployment, ["dedup:after-restart", "dedup:near-2"])
    finally:
        for worker in second:
            worker.stop()
    assert {"dedup:after-restart", "dedup:near-2"} <= set(outcomes), [w.log_tail() for w in second]
    again = outcomes["dedup:after-restart"]
    assert again["outcome"] == "duplicate"
    assert again["duplicate"]["status"] == "duplicate"
    assert again["duplicate"]["duplicate_of"] == first
    near = outcomes["dedup:near-2"]
    assert near["outcome"] == "duplicate"
    assert near["duplicate"]["status"] == "near_duplicate"
    # The first near copy is indexed too; the original shares more of this one's text.
    assert near["duplicate"]["duplicate_of"] in {first, NEAR_COPY}
    assert near["duplicate"]["similarity"] < 1.0
    assert {uri: outcomes[uri]["outcome"] for uri in first_run} == {
        uri: o["outcome"] for uri, o in first_run.items()
    }, "earlier outcomes are not re-decided after the restart"
