"""One worker on one deployment for the whole session, shared by the integration tests that only produce
articles and read what came of them (test_worker.py, test_observability.py).

A worker start is the expensive part of those tests: the NLP process imports spaCy and loads the model, the
worker joins its group (about 12 CPU seconds, 10-40 s on 2 shared cores). Each test produces articles under
uris of its own and reads the output topics filtered by them, so the tests do not see each other's input.

What the observability tests check is exact (counters, table sizes, lag, one log line per article), so the
first input the worker gets is their batch, and what an operator sees of it (/metrics when its outcomes are
out, /metrics once the tables and lag settled, the canonical log lines) is kept as it was then: whichever
test asked for the worker first, the others' articles come after the batch and do not reach those figures.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.brokers import Record, consume_all
from tests.workers import Deployment, Worker

PARTITIONS = 4
UNIQUE = 8  # unique articles in the observability batch
METRICS_SAMPLE = Path("/tmp/metrics-sample.txt")  # one scrape kept for the operations notes
_WORDS = [
    *("harbour", "grain", "tariff", "council", "minister", "river", "freight", "bond", "yield"),
    *("drought", "vaccine", "rail", "strike", "election", "budget", "coalition", "refinery", "port"),
    *("wheat", "copper", "turbine", "pension", "court", "appeal", "senate", "inflation", "ceasefire"),
    *("convoy", "bridge", "satellite", "merger", "audit", "glacier", "festival", "summit", "lender"),
]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _article(index: int) -> dict[str, Any]:
    """A unique English article: random words (no two share 5-word shingles) and a named speaker."""
    rng = random.Random(index)
    sentences = [" ".join(rng.choice(_WORDS) for _ in range(12)).capitalize() + "." for _ in range(8)]
    body = (
        f"LONDON (Wire) - {' '.join(sentences)}\n\n"
        f'"We will keep a close watch on case {index}," Governor Andrew Bailey told reporters in London.'
    )
    return {"uri": f"obs:{index}", "version": 1, "headline": f"Story {index}", "body_text": body}


@dataclass(frozen=True)
class Produced:
    raw: list[Record]  # where each input landed on the raw topic
    outcomes: dict[str, str]  # uri -> expected outcome
    dead_letters: dict[str, int]  # error code -> count


@dataclass(frozen=True)
class Observed:
    """The observability batch and what an operator saw of it before any other input."""

    produced: Produced
    at_outcomes: Samples  # /metrics once every outcome and dead letter of the batch was read back
    settled: Samples  # /metrics once the tables and the consumer lag settled (or 90 s passed)
    outcome_lines: list[dict[str, Any]]  # the worker's article.outcome log lines by then


@dataclass(frozen=True)
class SharedWorker:
    deployment: Deployment
    worker: Worker
    observed: Observed


def scrape(worker: Worker) -> Samples:
    """Every sample of /metrics by (name, labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(worker.get("/metrics")):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def eventually(worker: Worker, check: Callable[[Samples], bool], timeout_s: float = 60) -> Samples:
    """Scrape until ``check`` holds (gauges are refreshed by 5-second timers); the last scrape."""
    deadline = time.monotonic() + timeout_s
    samples = scrape(worker)
    while not check(samples) and time.monotonic() < deadline:
        time.sleep(1)
        samples = scrape(worker)
    return samples


def outcome_lines(worker: Worker) -> list[dict[str, Any]]:
    lines = []
    for line in worker.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == "article.outcome":
                lines.append(event)
    return lines


def lag_topics(deployment: Deployment) -> dict[str, int]:
    """The topics whose consumer lag the worker reports, with their partition counts."""
    app_id = deployment.env()["WIREPIPE_APP_ID"]
    return {deployment.topics["raw"]: PARTITIONS, f"{app_id}.nlp": PARTITIONS, f"{app_id}.dedup": 1}


def lag_series(samples: Samples) -> dict[tuple[str, str], float]:
    return {
        (labels["topic"], labels["partition"]): v
        for (name, frozen), v in samples.items()
        if name == "wirepipe_consumer_lag"
        for labels in [dict(frozen)]
    }


def _observe_batch(deployment: Deployment, worker: Worker) -> Observed:
    """Produce the batch (unique articles, an exact copy, dead letters), wait until every outcome and dead
    letter is out, then keep what /metrics and the log say."""
    articles = [_article(i) for i in range(UNIQUE)]
    copy = {**articles[0], "uri": "obs:copy-of-0"}
    values = [json.dumps(a).encode() for a in [*articles, copy]]
    values += [b"{not json", b"[1, 2]", json.dumps({"uri": "obs:photo", "type": "picture"}).encode()]
    deployment.wirepipe("produce", "-", input_bytes=b"\n".join(values) + b"\n")
    expected = {a["uri"]: "enriched" for a in articles} | {"obs:copy-of-0": "duplicate"}
    outcomes = consume_all(deployment.bootstrap, deployment.topics["enriched"], len(expected), 300)
    letters = consume_all(deployment.bootstrap, deployment.topics["deadletter"], 3, 120)
    assert len(outcomes) == len(expected), worker.log_tail()
    assert len(letters) == 3, worker.log_tail()
    raw = consume_all(deployment.bootstrap, deployment.topics["raw"], len(values), 60)
    produced = Produced(raw=raw, outcomes=expected, dead_letters={"E_DECODE_JSON": 2, "E_NO_TEXT_BODY": 1})
    at_outcomes = scrape(worker)

    decoded = len(expected) + 1  # the picture decodes, then fails cleaning
    partitions = sum(lag_topics(deployment).values())

    def settled(samples: Samples) -> bool:
        lags = lag_series(samples)
        return (
            value(samples, "wirepipe_dedup_table_size", table="versions") == decoded
            and len(lags) == partitions
            and not any(lags.values())
        )

    settled_samples = eventually(worker, settled, timeout_s=90)
    METRICS_SAMPLE.write_text(worker.get("/metrics"))
    return Observed(produced, at_outcomes, settled_samples, outcome_lines(worker))


@contextlib.contextmanager
def start_shared_worker(bootstrap: str, logs: Path) -> Iterator[SharedWorker]:
    """Start the worker, give it the observability batch, and stop it on exit. The worker creates its
    topics as it starts, so no `wirepipe topics` first (test_worker.py tests that command)."""
    deployment = Deployment(bootstrap=bootstrap, partitions=PARTITIONS)
    worker = Worker(deployment, logs, "shared")
    try:
        worker.wait_ready(timeout=300)
        yield SharedWorker(deployment, worker, _observe_batch(deployment, worker))
    finally:
        worker.stop()
