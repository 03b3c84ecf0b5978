"""Three workers share a 12-partition deployment: the raw partitions are split among them, and every
article still gets exactly one outcome."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient

from tests.brokers import Record, consume_all
from tests.workers import Deployment, Worker, deploy

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "eval" / "corpus" / "articles.jsonl"
PARTITIONS = 12
WORKERS = 3
ARTICLES = 60
_URL_PORT = re.compile(r'"url":\s*"http://[^"]+:(\d+)"')


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


@pytest.fixture(scope="module")
def deployment(kafka_bootstrap: str) -> Deployment:
    return deploy(kafka_bootstrap, PARTITIONS)


@pytest.fixture(scope="module")
def workers(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Worker]]:
    logs = tmp_path_factory.mktemp("scale-out")
    started = [Worker(deployment, logs, f"w{i}") for i in range(WORKERS)]
    try:
        for worker in started:
            worker.wait_ready(timeout=600)
        yield started
    finally:
        for worker in started:
            worker.stop()


def test_three_workers_split_the_raw_partitions_and_each_article_gets_one_outcome(
    deployment: Deployment, workers: list[Worker]
) -> None:
    if not CORPUS.exists():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    assignment = stable_assignment(deployment)
    shares = list(assignment.values())
    assert all(shares), f"a worker got no raw partition: {assignment}"
    assert sum(len(s) for s in shares) == PARTITIONS, f"a raw partition is assigned twice: {assignment}"

    lines = corpus_lines(ARTICLES)
    uris = {json.loads(line)["uri"] for line in lines}
    deployment.wirepipe("produce", "-", input_bytes=b"\n".join(lines) + b"\n")
    records = outcomes_of(deployment, uris, timeout_s=600)
    letters = consume_all(deployment.bootstrap, deployment.topics["deadletter"], 0, timeout_s=10)

    assert not letters, [json.loads(r.value)["message"] for r in letters if r.value]
    outcomes = [json.loads(r.value) for r in records if r.value is not None]
    per_uri = Counter(o["id"] for o in outcomes)
    assert set(per_uri) == uris
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
        lines_of_worker = outcome_lines(worker)
        logged.update(line["article_id"] for line in lines_of_worker)
        enriched = {line["partition"] for line in lines_of_worker if line["outcome"] == "enriched"}
        assert enriched, f"worker on port {worker.port} finished no article"
        assert enriched <= assignment[worker.port], (worker.port, enriched, assignment)
    assert logged == Counter(dict.fromkeys(uris, 1)), "one canonical log line per article, cluster-wide"
