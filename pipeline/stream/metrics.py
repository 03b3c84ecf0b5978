"""Prometheus metrics for the worker, in one dedicated registry (names prefixed ``wirepipe_``).

The Faust web view at ``/metrics`` returns :func:`render`. A dedicated registry keeps the process and
platform collectors of the default registry out, so two apps in one test process never collide.
What each series means and which alerts to set: ``docs/operations.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

OUTCOMES = Counter(
    "wirepipe_outcomes",
    "Input messages that produced an output record, by outcome (enriched, update, duplicate, ...).",
    ["outcome"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "wirepipe_dead_letters",
    "Input messages published to the dead-letter topic, by error code.",
    ["code"],
    registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "wirepipe_stage_duration_seconds",
    "Wall time spent in one pipeline stage for one article (NLP stages: the batch time per article).",
    ["stage"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "wirepipe_batch_size",
    "Articles per batch handed to the NLP stages.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
    registry=REGISTRY,
)
NLP_BUSY = Counter(
    "wirepipe_nlp_busy_seconds",
    "Wall seconds the NLP process held a batch: divided by elapsed time, how busy the NLP step is "
    "(near 1: spaCy is the bottleneck; well below 1 under load: the stream is).",
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "wirepipe_consumer_lag",
    "Messages between the committed offset and the log end, per assigned input partition.",
    ["topic", "partition"],
    registry=REGISTRY,
)
TABLE_SIZE = Gauge(
    "wirepipe_dedup_table_size",
    "Entries held in a deduplication table on this worker (its assigned partitions only).",
    ["table"],
    registry=REGISTRY,
)
REBALANCES = Counter(
    "wirepipe_rebalances",
    "Partition assignments received by this worker (each one pauses processing while tables recover).",
    registry=REGISTRY,
)
READY = Gauge(
    "wirepipe_ready",
    "1 when the worker has its model loaded, partitions assigned and tables recovered; 0 otherwise.",
    registry=REGISTRY,
)


class CpuCollector(Collector):
    """``wirepipe_cpu_seconds_total{part}``: the worker's CPU by part (``pipeline/stream/cputime.py``),
    read from the kernel's clocks at each scrape. ``measure`` is set by the app that knows its parts."""

    def __init__(self) -> None:
        self.measure: Callable[[], dict[str, float]] | None = None

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "wirepipe_cpu_seconds",
            "CPU seconds used since start, by part of the worker: loop (the event loop thread), consumer "
            "(Faust's consumer thread), other_threads, nlp_process (the spaCy child process).",
            labels=["part"],
        )
        for part, seconds in (self.measure() if self.measure else {}).items():
            family.add_metric([part], seconds)
        yield family


CPU = CpuCollector()
REGISTRY.register(CPU)


def render() -> tuple[bytes, str]:
    """Return the exposition text of every Wirepipe series and its HTTP content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
