"""What operators see of a running worker: /health, /ready, /metrics and one canonical log line per article.

One worker, one batch of known input (unique articles, an exact copy, dead letters); every figure is
checked against what was produced, not just for presence.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.brokers import Record, consume_all
from tests.workers import Deployment, Worker, deploy

pytestmark = pytest.mark.integration

METRICS_SAMPLE = Path("/tmp/metrics-sample.txt")  # one scrape kept for the operations notes
UNIQUE = 8
PARTITIONS = 4
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


@pytest.fixture(scope="module")
def deployment(kafka_bootstrap: str) -> Deployment:
    return deploy(kafka_bootstrap, PARTITIONS)


@pytest.fixture(scope="module")
def worker(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    w = Worker(deployment, tmp_path_factory.mktemp("observability"))
    try:
        w.wait_ready(timeout=300)
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="module")
def produced(deployment: Deployment, worker: Worker) -> Produced:
    """Produce the batch once and wait until every outcome and dead letter is out."""
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
    return Produced(raw=raw, outcomes=expected, dead_letters={"E_DECODE_JSON": 2, "E_NO_TEXT_BODY": 1})


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


def test_health_and_ready_answer_200_once_the_worker_is_ready(worker: Worker) -> None:
    assert json.loads(worker.get("/health")) == {"status": "alive"}
    assert json.loads(worker.get("/ready")) == {"model_loaded": True, "partitions_assigned": True}


def test_outcome_and_dead_letter_counters_match_what_was_produced(worker: Worker, produced: Produced) -> None:
    samples = scrape(worker)
    assert value(samples, "wirepipe_outcomes_total", outcome="enriched") == UNIQUE
    assert value(samples, "wirepipe_outcomes_total", outcome="duplicate") == 1
    series = {dict(labels)["outcome"] for name, labels in samples if name == "wirepipe_outcomes_total"}
    assert series == {"enriched", "duplicate"}
    for code, count in produced.dead_letters.items():
        assert value(samples, "wirepipe_dead_letters_total", code=code) == count, code
    dead_series = {dict(labels)["code"] for name, labels in samples if name == "wirepipe_dead_letters_total"}
    assert dead_series == set(produced.dead_letters)


def test_stage_histograms_count_each_article_that_went_through_the_stage(
    worker: Worker, produced: Produced
) -> None:
    """Dead letters record no timings; the duplicate stops before NLP; NLP batches hold the uniques."""
    samples = scrape(worker)
    through_dedup = len(produced.outcomes)
    for stage in ("decode", "clean", "hash", "dedup"):
        assert value(samples, "wirepipe_stage_duration_seconds_count", stage=stage) == through_dedup, stage
    for stage in ("spacy", "entities", "quotes"):
        assert value(samples, "wirepipe_stage_duration_seconds_count", stage=stage) == UNIQUE, stage
    for stage in ("decode", "clean", "spacy"):
        total = value(samples, "wirepipe_stage_duration_seconds_sum", stage=stage)
        assert total is not None and total > 0, stage
        inf = value(samples, "wirepipe_stage_duration_seconds_bucket", stage=stage, le="+Inf")
        assert inf == value(samples, "wirepipe_stage_duration_seconds_count", stage=stage)
    assert value(samples, "wirepipe_batch_size_sum") == UNIQUE
    batches = value(samples, "wirepipe_batch_size_count")
    assert batches is not None and 1 <= batches <= UNIQUE


def test_table_sizes_and_consumer_lag_settle_on_the_processed_state(
    deployment: Deployment, worker: Worker, produced: Produced
) -> None:
    """Every decoded uri has a version entry; every unique article is indexed; nothing is left to read."""
    decoded = len(produced.outcomes) + 1  # the picture decodes, then fails cleaning
    app_id = deployment.env()["WIREPIPE_APP_ID"]
    lag_topics = {
        deployment.topics["raw"]: PARTITIONS,
        f"{app_id}.nlp": PARTITIONS,
        f"{app_id}.dedup": 1,
    }

    def lag_series(samples: Samples) -> dict[tuple[str, str], float]:
        return {
            (labels["topic"], labels["partition"]): v
            for (name, frozen), v in samples.items()
            if name == "wirepipe_consumer_lag"
            for labels in [dict(frozen)]
        }

    def settled(samples: Samples) -> bool:
        lags = lag_series(samples)
        return (
            value(samples, "wirepipe_dedup_table_size", table="versions") == decoded
            and len(lags) == sum(lag_topics.values())
            and not any(lags.values())
        )

    samples = eventually(worker, settled, timeout_s=90)
    METRICS_SAMPLE.write_text(worker.get("/metrics"))
    assert value(samples, "wirepipe_dedup_table_size", table="versions") == decoded
    # One durable doc:<h> entry per unique article (its fingerprint and LSH entries are derived in
    # memory, DerivedIndexStore); the copy adds nothing.
    index_size = value(samples, "wirepipe_dedup_table_size", table="dedup-index")
    assert index_size == UNIQUE
    lags = lag_series(samples)
    expected = {(topic, str(p)) for topic, n in lag_topics.items() for p in range(n)}
    assert set(lags) == expected
    assert all(v == 0 for v in lags.values()), lags


def test_one_canonical_log_line_per_article_with_where_it_came_from(
    deployment: Deployment, worker: Worker, produced: Produced
) -> None:
    lines = outcome_lines(worker)
    assert sorted(line["article_id"] for line in lines) == sorted(produced.outcomes)
    landed = {r.key.decode(): r for r in produced.raw if r.key is not None}
    for line in lines:
        uri = line["article_id"]
        assert line["outcome"] == produced.outcomes[uri], uri
        assert (line["topic"], line["partition"], line["offset"]) == (
            deployment.topics["raw"],
            landed[uri].partition,
            landed[uri].offset,
        ), uri
        assert {"decode", "clean", "hash", "dedup"} <= set(line["timings_ms"]), uri
        assert all(isinstance(ms, float | int) and ms >= 0 for ms in line["timings_ms"].values())
        assert isinstance(line["entities"], int) and isinstance(line["quotes"], int)
        if line["outcome"] == "enriched":
            assert "spacy" in line["timings_ms"]
            assert line["entities"] >= 1, "Andrew Bailey and London are in every body"
            assert line["quotes"] >= 1, "every body carries one attributed quote"
        else:
            assert line["duplicate_of"] == "obs:0"
            assert line["entities"] == 0 and line["quotes"] == 0
            assert "spacy" not in line["timings_ms"]
