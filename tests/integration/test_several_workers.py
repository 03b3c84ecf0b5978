"""Three workers share one 12-partition deployment: the raw partitions are split among them and every article
gets exactly one outcome; copies of one story on every raw partition (so on every worker) give one
``enriched`` and ``duplicate`` for the rest; and the dedup index survives a graceful restart of every worker.

One deployment and one set of workers serve all of it, because a worker start is the expensive part. The
fixtures keep the order whichever test runs first: the corpus articles go first, so the split is checked on
an enriched topic and logs that hold nothing else, then the copies; the restart test stops the workers.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient
from kafka.partitioner.default import murmur2

from tests.brokers import Record, consume_all
from tests.brokers import produce as broker_produce
from tests.workers import Deployment, Worker, deploy, stop_all

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "eval" / "corpus" / "articles.jsonl"
PARTITIONS = 12
WORKERS = 3
ARTICLES = 60
_URL_PORT = re.compile(r'"url":\s*"http://[^"]+:(\d+)"')
_WORDS = [
    *("harbour", "grain", "tariff", "council", "minister", "river", "freight", "bond", "yield"),
    *("drought", "vaccine", "rail", "strike", "election", "budget", "coalition", "refinery", "port"),
    *("wheat", "copper", "turbine", "pension", "court", "appeal", "senate", "inflation", "ceasefire"),
]


# -- the corpus articles, split among the workers ------------------------------------------------------


def corpus_lines(count: int) -> list[bytes]:
    """The first ``count`` corpus articles with distinct uris."""
    seen: set[str] = set()
    lines = []
    for line in CORPUS.read_bytes().splitlines():
        if line.strip() and (uri := json.loads(line)["uri"]) not in seen:
            seen.add(uri)
            lines.append(line)
            if len(lines) == count:
                break
    return lines


def raw_assignment(deployment: Deployment) -> dict[int, set[int]]:
    """Worker web port -> raw partitions, as the group coordinator sees the app's consumer group.

    Faust puts each member's web url in its subscription metadata; the port tells the workers apart.
    """
    group = deployment.env()["WIREPIPE_APP_ID"]  # Faust's group id is the app id
    admin = KafkaAdminClient(bootstrap_servers=deployment.bootstrap, client_id="wirepipe-tests")
    try:
        description = admin.describe_groups([group])[group]
    finally:
        admin.close()
    if description["group_state"] != "Stable":
        return {}
    return {
        _web_port(member): {
            p
            for assigned in member["member_assignment"]["assigned_partitions"]
            if assigned["topic"] == deployment.topics["raw"]
            for p in assigned["partitions"]
        }
        for member in description["members"]
    }


def _web_port(member: dict[str, Any]) -> int:
    match = _URL_PORT.search(str(member["member_metadata"]))
    assert match, member["member_metadata"]
    return int(match.group(1))


def stable_assignment(deployment: Deployment, timeout_s: float = 180) -> dict[int, set[int]]:
    """Wait until the group is stable with every worker in it and every raw partition assigned."""
    deadline = time.monotonic() + timeout_s
    assignment: dict[int, set[int]] = {}
    while time.monotonic() < deadline:
        assignment = raw_assignment(deployment)
        covered = set().union(*assignment.values()) if assignment else set()
        if len(assignment) == WORKERS and covered == set(range(PARTITIONS)):
            return assignment
        time.sleep(1)
    raise AssertionError(f"group not stable with {WORKERS} members: {assignment}")


def outcomes_of(deployment: Deployment, uris: set[str], timeout_s: float) -> list[Record]:
    """Every record of the enriched topic once each uri has one (or the time is up): waiting for a
    count instead would let a re-emit stand in for a missing article."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = consume_all(deployment.bootstrap, deployment.topics["enriched"], 0, timeout_s=30)
        seen = {json.loads(r.value)["id"] for r in records if r.value is not None}
        if uris <= seen or time.monotonic() > deadline:
            return records
        time.sleep(1)


def outcome_lines(worker: Worker) -> list[dict[str, Any]]:
    events = (json.loads(line) for line in worker.log_path.read_text().splitlines() if line.startswith("{"))
    return [e for e in events if e.get("event") == "article.outcome"]


@dataclass(frozen=True)
class Split:
    """The corpus articles through the three workers, and what the group, the topics and the logs said."""

    assignment: dict[int, set[int]]  # worker web port -> raw partitions, once the group was stable
    uris: set[str]
    records: list[Record]  # the enriched topic once every uri had an outcome
    letters: list[Record]  # the dead-letter topic then
    lines: dict[int, list[dict[str, Any]]]  # worker web port -> its article.outcome log lines then


# -- copies of one story -------------------------------------------------------------------------------


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
    """A uri for each raw partition, so copies reach every partition and so every worker."""
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
    """To the raw topic keyed by uri, as `wirepipe produce` keys them, from this process: the command
    itself is tested with the shared worker, and a command started under load costs seconds of CPU."""
    keyed = [(json.loads(value)["uri"].encode(), value) for value in values]
    broker_produce(deployment.bootstrap, deployment.topics["raw"], keyed)


def latest_outcomes(deployment: Deployment, uris: Iterable[str], timeout_s: float = 300) -> dict[str, Any]:
    """The last outcome per uri on the enriched topic, once every uri in ``uris`` has one (or the time
    is up).

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


def start_workers(deployment: Deployment, logs: Path, names: Iterable[str]) -> list[Worker]:
    workers = [Worker(deployment, logs, name) for name in names]
    for worker in workers:
        worker.wait_ready(timeout=600)
    return workers


def original(outcomes: dict[str, dict[str, Any]]) -> str:
    enriched = [uri for uri in COPIES if outcomes[uri]["outcome"] == "enriched"]
    assert len(enriched) == 1, {uri: outcomes[uri]["outcome"] for uri in COPIES}
    return enriched[0]


# -- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployment(kafka_bootstrap: str) -> Deployment:
    return deploy(kafka_bootstrap, PARTITIONS)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("several-workers")


@pytest.fixture(scope="module")
def workers(deployment: Deployment, logs: Path) -> Iterator[list[Worker]]:
    started = start_workers(deployment, logs, [f"w{i}" for i in range(WORKERS)])
    try:
        yield started
    finally:
        stop_all(started)


@pytest.fixture(scope="module")
def split(deployment: Deployment, workers: list[Worker]) -> Split | None:
    """The first input of the deployment: the corpus articles, once the group is stable (None without
    the corpus)."""
    if not CORPUS.exists():
        return None
    assignment = stable_assignment(deployment)
    lines = corpus_lines(ARTICLES)
    uris = {json.loads(line)["uri"] for line in lines}
    produce(deployment, lines)
    records = outcomes_of(deployment, uris, timeout_s=600)
    letters = consume_all(deployment.bootstrap, deployment.topics["deadletter"], 0, timeout_s=10)
    return Split(assignment, uris, records, letters, {w.port: outcome_lines(w) for w in workers})


@pytest.fixture(scope="module")
def first_run(
    deployment: Deployment, workers: list[Worker], split: Split | None
) -> dict[str, dict[str, Any]]:
    """Twelve exact copies (one per raw partition) and one near copy, through the three workers (after
    the corpus articles)."""
    produce(deployment, [*(story(uri) for uri in COPIES), story(NEAR_COPY, changed_sentence=3)])
    outcomes = latest_outcomes(deployment, [*COPIES, NEAR_COPY])
    ours = {uri: outcomes[uri] for uri in [*COPIES, NEAR_COPY] if uri in outcomes}
    assert set(ours) == {*COPIES, NEAR_COPY}, [w.log_tail() for w in workers]
    return ours


# -- tests -----------------------------------------------------------------------------------------------


def test_three_workers_split_the_raw_partitions_and_each_article_gets_one_outcome(
    workers: list[Worker], split: Split | None
) -> None:
    if split is None:
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    assignment = split.assignment
    shares = list(assignment.values())
    assert all(shares), f"a worker got no raw partition: {assignment}"
    assert sum(len(s) for s in shares) == PARTITIONS, f"a raw partition is assigned twice: {assignment}"

    assert not split.letters, [json.loads(r.value)["message"] for r in split.letters if r.value]
    outcomes = [json.loads(r.value) for r in split.records if r.value is not None]
    per_uri = Counter(o["id"] for o in outcomes)
    assert set(per_uri) == split.uris
    assert max(per_uri.values()) == 1, f"outcomes re-emitted: {per_uri.most_common(3)}"
    by_id = {o["id"]: o for o in outcomes}
    assert {o["outcome"] for o in outcomes} <= {"enriched", "duplicate"}
    for o in outcomes:
        if o["outcome"] == "duplicate":
            assert by_id[o["duplicate"]["duplicate_of"]]["outcome"] == "enriched", o["id"]

    # Each worker did part of the work, on its own partitions: an enriched article is finished by
    # the worker holding its nlp partition, which is the same number as its raw partition.
    assert set(assignment) == {w.port for w in workers}
    logged: Counter[str] = Counter()
    for worker in workers:
        lines_of_worker = split.lines[worker.port]
        logged.update(line["article_id"] for line in lines_of_worker)
        enriched = {line["partition"] for line in lines_of_worker if line["outcome"] == "enriched"}
        assert enriched, f"worker on port {worker.port} finished no article"
        assert enriched <= assignment[worker.port], (worker.port, enriched, assignment)
    assert logged == Counter(dict.fromkeys(split.uris, 1)), "one canonical log line per article, cluster-wide"


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
    workers: list[Worker],
    first_run: dict[str, dict[str, Any]],
) -> None:
    """Graceful stop of all three workers (at once), two new ones (fresh data dirs): the index comes back
    from its changelog, so an exact copy and another near copy under new uris are recognised."""
    first = original(first_run)
    stop_all(workers)
    second = start_workers(deployment, logs, ("b1", "b2"))
    try:
        produce(deployment, [story("dedup:after-restart"), story("dedup:near-2", changed_sentence=20)])
        outcomes = latest_outcomes(deployment, ["dedup:after-restart", "dedup:near-2"])
    finally:
        stop_all(second)
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
