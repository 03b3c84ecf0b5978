"""What the worker tells the outside: ``/health``, ``/ready`` and ``/metrics``, and the timers and signal
handlers that keep the metrics current (assignments, table sizes, consumer lag)."""

from __future__ import annotations

from typing import Any

import faust
from aiohttp import web as aiohttp_web

from pipeline.logs import get_logger
from pipeline.stream import metrics
from pipeline.stream.kafka_config import internal_topic
from pipeline.stream.wiring import Wiring

log = get_logger("wirepipe.worker")

METRICS_EVERY_S = 5.0


def register(w: Wiring) -> None:
    """Register the web pages, the assignment handler and the metric timers on ``w.app``."""
    app, state = w.app, w.state

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(app_: faust.App, assigned: Any, **_: Any) -> None:
        state.assigned = True
        state.rebuild_dedup_index = True
        metrics.REBALANCES.inc()
        metrics.READY.set(1)  # the model is loaded before the app starts
        log.info("worker.partitions_assigned", count=len(assigned))

    @app.timer(interval=METRICS_EVERY_S)  # type: ignore[untyped-decorator]
    async def _table_sizes() -> None:
        metrics.TABLE_SIZE.labels(table="versions").set(len(w.versions))
        metrics.TABLE_SIZE.labels(table="dedup-index").set(len(w.dedup_index))
        metrics.TABLE_SIZE.labels(table="stories").set(len(w.stories))

    lag_topics = {w.settings.topic_raw, *(internal_topic(w.settings, s) for s in ("dedup", "nlp"))}
    lag_labels: set[tuple[str, str]] = set()

    @app.timer(interval=METRICS_EVERY_S)  # type: ignore[untyped-decorator]
    async def _consumer_lag() -> None:
        try:
            await _report_lag(app, lag_topics, lag_labels)
        except Exception as exc:  # a metric must never stop the worker (e.g. during a rebalance)
            log.debug("metrics.consumer_lag_failed", error=f"{type(exc).__name__}: {exc}")

    @app.page("/health")
    async def _health(web: Any, request: Any) -> Any:
        return aiohttp_web.json_response({"status": "alive"})

    @app.page("/ready")
    async def _ready(web: Any, request: Any) -> Any:
        return aiohttp_web.json_response(
            {"model_loaded": True, "partitions_assigned": state.assigned},
            status=200 if state.assigned else 503,
        )

    @app.page("/metrics")
    async def _metrics(web: Any, request: Any) -> Any:
        body, content_type = metrics.render()
        return aiohttp_web.Response(body=body, headers={"Content-Type": content_type})


async def _report_lag(app: faust.App, topics: set[str], reported: set[tuple[str, str]]) -> None:
    """Set end minus committed offset (the next to read) per assigned agent input partition; drop the
    partitions no longer assigned (another worker reports them)."""
    consumer: Any = app.consumer
    assigned = [tp for tp in consumer.assignment() if tp.topic in topics]
    ends = await consumer.highwaters(*assigned) if assigned else {}
    # Nothing committed since the assignment: the worker starts from the earliest offset.
    committed = {tp: consumer._committed_offset.get(tp) for tp in assigned}
    unset = [tp for tp, offset in committed.items() if offset is None]
    earliest = await consumer.earliest_offsets(*unset) if unset else {}
    current = set()
    for tp in assigned:
        if ends.get(tp) is None:
            continue
        start = committed[tp] if committed[tp] is not None else earliest.get(tp, 0)
        labels = (tp.topic, str(tp.partition))
        metrics.CONSUMER_LAG.labels(*labels).set(max(0, int(ends[tp]) - int(start)))
        current.add(labels)
    for labels in reported - current:
        metrics.CONSUMER_LAG.remove(*labels)
    reported.clear()
    reported.update(current)
