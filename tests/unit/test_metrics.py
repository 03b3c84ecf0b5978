"""pipeline.stream.metrics: every series the operations guide names shows up once observed."""

from __future__ import annotations

from pipeline.stream import metrics


def _text() -> str:
    body, _ = metrics.render()
    return body.decode("utf-8")


def test_render_returns_the_prometheus_text_content_type() -> None:
    _, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=")


def test_outcome_counter_is_rendered_with_its_outcome_label() -> None:
    metrics.OUTCOMES.labels(outcome="enriched").inc()
    assert 'wirepipe_outcomes_total{outcome="enriched"}' in _text()


def test_dead_letter_counter_is_rendered_with_its_code_label() -> None:
    metrics.DEAD_LETTERS.labels(code="E_DECODE_JSON").inc(2)
    assert 'wirepipe_dead_letters_total{code="E_DECODE_JSON"}' in _text()


def test_stage_histogram_is_rendered_with_buckets_per_stage() -> None:
    metrics.STAGE_SECONDS.labels(stage="clean").observe(0.003)
    text = _text()
    assert 'wirepipe_stage_duration_seconds_bucket{le="0.005",stage="clean"}' in text
    assert 'wirepipe_stage_duration_seconds_count{stage="clean"}' in text


def test_batch_size_histogram_is_rendered() -> None:
    metrics.BATCH_SIZE.observe(16)
    assert 'wirepipe_batch_size_bucket{le="16.0"}' in _text()


def test_consumer_lag_gauge_is_rendered_per_topic_and_partition() -> None:
    metrics.CONSUMER_LAG.labels(topic="wirepipe.raw", partition="3").set(42)
    assert 'wirepipe_consumer_lag{partition="3",topic="wirepipe.raw"} 42.0' in _text()


def test_dedup_table_size_gauge_is_rendered_per_table() -> None:
    metrics.TABLE_SIZE.labels(table="dedup-index").set(7)
    assert 'wirepipe_dedup_table_size{table="dedup-index"} 7.0' in _text()


def test_rebalance_counter_is_rendered() -> None:
    metrics.REBALANCES.inc()
    assert "wirepipe_rebalances_total " in _text()


def test_ready_gauge_reports_the_value_last_set() -> None:
    metrics.READY.set(1)
    assert "wirepipe_ready 1.0" in _text()
    metrics.READY.set(0)
    assert "wirepipe_ready 0.0" in _text()


def test_only_wirepipe_series_are_exported() -> None:
    """The dedicated registry keeps the default process/platform collectors out."""
    names = [line.split()[2] for line in _text().splitlines() if line.startswith("# TYPE")]
    assert names
    assert all(name.startswith("wirepipe_") for name in names)
