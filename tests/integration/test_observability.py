"""What operators see of a running worker: /health, /ready, /metrics and one canonical log line per article.

One worker, one batch of known input (unique articles, an exact copy, dead letters); every figure is
checked against what was produced, not just for presence. The worker is the session's shared one
(tests/integration/shared_worker.py): the batch is the first input it gets, and /metrics and the log are
read as they were once the batch was out, before any other test's articles.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.shared_worker import (
    UNIQUE,
    Observed,
    SharedWorker,
    lag_series,
    lag_topics,
    value,
)
from tests.workers import Deployment, Worker

pytestmark = pytest.mark.integration


@pytest.fixture
def observed(shared_worker: SharedWorker) -> Observed:
    return shared_worker.observed


def test_health_and_ready_answer_200_once_the_worker_is_ready(worker: Worker) -> None:
    assert json.loads(worker.get("/health")) == {"status": "alive"}
    assert json.loads(worker.get("/ready")) == {"model_loaded": True, "partitions_assigned": True}


def test_outcome_and_dead_letter_counters_match_what_was_produced(observed: Observed) -> None:
    samples, produced = observed.at_outcomes, observed.produced
    assert value(samples, "wirepipe_outcomes_total", outcome="enriched") == UNIQUE
    assert value(samples, "wirepipe_outcomes_total", outcome="duplicate") == 1
    series = {dict(labels)["outcome"] for name, labels in samples if name == "wirepipe_outcomes_total"}
    assert series == {"enriched", "duplicate"}
    for code, count in produced.dead_letters.items():
        assert value(samples, "wirepipe_dead_letters_total", code=code) == count, code
    dead_series = {dict(labels)["code"] for name, labels in samples if name == "wirepipe_dead_letters_total"}
    assert dead_series == set(produced.dead_letters)


def test_stage_histograms_count_each_article_that_went_through_the_stage(observed: Observed) -> None:
    """Dead letters record no timings; the duplicate stops before NLP; NLP batches hold the uniques."""
    samples, produced = observed.settled, observed.produced
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
    deployment: Deployment, observed: Observed
) -> None:
    """Every decoded uri has a version entry; every unique article is indexed; nothing is left to read.
    (The shared worker scraped /metrics until these settled, for up to 90 s.)"""
    samples = observed.settled
    decoded = len(observed.produced.outcomes) + 1  # the picture decodes, then fails cleaning
    assert value(samples, "wirepipe_dedup_table_size", table="versions") == decoded
    # One durable doc:<h> entry per unique article (its fingerprint and LSH entries are derived in
    # memory, DerivedIndexStore); the copy adds nothing.
    index_size = value(samples, "wirepipe_dedup_table_size", table="dedup-index")
    assert index_size == UNIQUE
    lags = lag_series(samples)
    expected = {(topic, str(p)) for topic, n in lag_topics(deployment).items() for p in range(n)}
    assert set(lags) == expected
    assert all(v == 0 for v in lags.values()), lags


def test_one_canonical_log_line_per_article_with_where_it_came_from(
    deployment: Deployment, observed: Observed
) -> None:
    lines, produced = observed.outcome_lines, observed.produced
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
