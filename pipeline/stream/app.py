"""The Faust app: topics, tables and three agents. The thin shell around ``process``.

    raw (N partitions, key uri)  --ingest-->  <app>.dedup (1 partition)  --dedup-->  <app>.nlp (N, key uri)
        versions table (by uri)                 dedup-index table                   --nlp--> enriched / quotes
    any failure at any step  --> deadletter

Offsets: an agent moves on (and so acks) only after its outputs are handed to the producer, and Faust
flushes the producer before it commits offsets (faust/transport/consumer.py ``_commit_offsets``), so a
crash re-delivers, never loses: at-least-once, with outcomes keyed by uri and identical on re-emit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import faust
import orjson
from aiohttp import web as aiohttp_web

from pipeline.errors import Stage, StageError
from pipeline.logs import get_logger
from pipeline.process import (
    Enricher,
    Envelope,
    Limits,
    Source,
    article_outcome,
    check_duplicate,
    dead_letter,
    finish,
    ingest,
    internal_error,
    is_duplicate,
    is_retraction,
)
from pipeline.settings import Settings
from pipeline.stages.dedup import DerivedIndexStore, expire, forget
from pipeline.stream import metrics
from pipeline.stream.acks import events_to_settle, skip_finished
from pipeline.stream.kafka_config import faust_credentials, internal_topic, table_partitions
from pipeline.stream.publisher import Publisher, speaker_key
from pipeline.stream.topic import Topic
from pipeline.stream.transport import WirepipeApp
from schemas.records import DeadLetter

log = get_logger("wirepipe.worker")

INDEX_KEY = b"index"  # every message on the single dedup partition: look up and index an article
FORGET_KEY = b"forget"  # value is a uri: a withdrawn or withheld story leaves the index


def limits_from(settings: Settings) -> Limits:
    """Plain limit values for the stages, read from settings once."""
    return Limits(
        max_message_bytes=settings.max_message_bytes,
        max_body_bytes=settings.max_body_bytes,
        max_html_depth=settings.max_html_depth,
        max_html_attributes=settings.max_html_attributes,
        max_paragraphs=settings.max_paragraphs,
        near_dup_threshold=settings.near_dup_threshold,
        retention_s=settings.dedup_retention_days * 86_400,
    )


def _source(event: Any) -> Source:
    message = event.message
    return Source(
        value=message.value,
        key=message.key,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
    )


def create_app(settings: Settings, enricher: Enricher) -> faust.App:
    """Build the Faust app around a loaded model (the worker command loads it first, so a bad model
    stops the worker before it joins the group)."""
    app = WirepipeApp(
        settings.app_id,
        broker=[f"kafka://{hostport}" for hostport in settings.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(settings),
        Topic=Topic,  # sends skip Faust's per-message producer start-up guard (pipeline/stream/topic.py)
        store="memory://",
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        key_serializer="raw",
        value_serializer="raw",
        web_port=settings.web_port,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_enabled=True,
        stream_recovery_delay=0.0,
        # One spaCy batch can take seconds on a slow machine; NLP runs in an executor, so the
        # loop keeps heartbeating, but leave the poll interval generous for the largest batch.
        broker_max_poll_interval=600.0,
        broker_session_timeout=30.0,
        broker_heartbeat_interval=3.0,
        broker_commit_interval=1.0,
        producer_max_request_size=settings.topic_max_message_bytes,
        consumer_max_fetch_size=settings.topic_max_message_bytes,
    )
    limits = limits_from(settings)
    state: dict[str, Any] = {"assigned": False, "rebuild_dedup_index": True}

    raw_topic = app.topic(settings.topic_raw, partitions=settings.partitions)
    # Envelopes carry the original bytes (for dead letters after ingest): same size limit as raw.
    size = {"max.message.bytes": str(settings.topic_max_message_bytes)}
    dedup_topic = app.topic(internal_topic(settings, "dedup"), partitions=1, internal=True, config=size)
    quote_index_topic = app.topic(
        internal_topic(settings, "quote-index"), partitions=settings.partitions, internal=True
    )
    nlp_topic = app.topic(
        internal_topic(settings, "nlp"), partitions=settings.partitions, internal=True, config=size
    )
    output_topics = {
        "enriched": app.topic(settings.topic_enriched),
        "quotes": app.topic(settings.topic_quotes),
        "deadletter": app.topic(settings.topic_deadletter),
    }
    tables = table_partitions(settings)  # created with their changelogs by ensure_topics
    versions = app.Table("versions", default=None, partitions=tables["versions"])
    dedup_index = app.Table("dedup-index", default=None, partitions=tables["dedup-index"])
    # The table holds the articles; their LSH buckets and expiry index are derived in memory, and
    # derived again after every rebalance (the table may have just been restored from its changelog).
    dedup_store = DerivedIndexStore(dedup_index)
    # uri -> {"version", "keys"}: the speaker keys of the quotes last published for a story.
    quote_speakers = app.Table("quote-speakers", default=None, partitions=tables["quote-speakers"])

    @app.agent(raw_topic, name="ingest")
    async def ingest_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        publisher = Publisher(**output_topics)  # one per agent: its own pending sends
        async for event in events_to_settle(stream):
            async with publisher.settling(stream, [event], "ingest"):
                source = _source(event)
                try:
                    step = ingest(source, versions, limits)
                except StageError as exc:
                    await publisher.dead(dead_letter(exc, source))
                except Exception as exc:  # a bug must become a dead letter, never a stopped partition
                    await publisher.dead(dead_letter(internal_error(exc, Stage.CLEAN), source))
                else:
                    if isinstance(step, Envelope):
                        await publisher.send(dedup_topic, INDEX_KEY, step.model_dump_json().encode())
                    else:
                        await publisher.outcome(step, source)
                        if is_retraction(step):
                            # Through the dedup partition, so the retraction reaches the nlp step after
                            # any earlier version of the story still on its way there.
                            await publisher.send(dedup_topic, FORGET_KEY, step.id.encode())
            yield None

    @app.agent(dedup_topic, name="dedup")
    async def dedup_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        publisher = Publisher(**output_topics)  # one per agent: its own pending sends
        last_sweep = 0.0
        async for event in events_to_settle(stream):
            async with publisher.settling(stream, [event], "dedup"):
                if state["rebuild_dedup_index"]:
                    _rebuild_dedup_index()
                now = time.time()
                if now - last_sweep > 60:  # expiry runs here: table writes belong to this partition's agent
                    expired = expire(dedup_store, now, retention_s=limits.retention_s)
                    last_sweep = now
                    if expired:
                        log.info("dedup.expired", articles=expired)
                if event.message.key == FORGET_KEY:
                    uri = event.value.decode()
                    forget(dedup_store, uri)
                    await publisher.send(nlp_topic, event.value, orjson.dumps({"retract": uri}))
                else:
                    await _check_duplicate(publisher, event)
            yield None

    def _rebuild_dedup_index() -> None:
        started = time.perf_counter()
        articles = dedup_store.rebuild()
        state["rebuild_dedup_index"] = False
        log.info("dedup.index_rebuilt", articles=articles, seconds=round(time.perf_counter() - started, 3))

    async def _check_duplicate(publisher: Publisher, event: Any) -> None:
        try:
            envelope = check_duplicate(Envelope.model_validate_json(event.value), dedup_store, limits)
        except Exception as exc:
            await publisher.dead(dead_letter(internal_error(exc, Stage.DEDUP), _source(event)))
            return
        if is_duplicate(envelope):
            await publisher.outcome(article_outcome(envelope), envelope.source())
        else:
            value = envelope.model_dump_json().encode()
            await publisher.send(nlp_topic, envelope.article.uri.encode(), value)

    @app.agent(nlp_topic, name="nlp")
    async def nlp_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        publisher = Publisher(**output_topics)  # one per agent: its own pending sends
        async for batch in stream.take_events(  # type: ignore[attr-defined]  # missing from faust's StreamT
            settings.batch_size, within=settings.batch_timeout_s
        ):
            events = await skip_finished(stream, batch)
            if events:
                async with publisher.settling(stream, events, "nlp"):
                    await _enrich_batch(publisher, events)
            yield None

    async def _enrich_batch(publisher: Publisher, events: list[Any]) -> None:
        envelopes: list[Envelope] = []
        for event in events:
            try:
                data = orjson.loads(event.value)
                if isinstance(data, dict) and "retract" in data:
                    # In order behind any earlier version of the story: pass it on to the quote index.
                    await publisher.send(quote_index_topic, event.message.key, event.value)
                else:
                    envelopes.append(Envelope.model_validate(data))
            except Exception as exc:
                await publisher.dead(dead_letter(internal_error(exc, Stage.ENTITIES), _source(event)))
        metrics.BATCH_SIZE.observe(len(envelopes))
        try:
            # spaCy is CPU-bound: run it off the event loop so heartbeats and commits go on.
            outcomes = await asyncio.get_running_loop().run_in_executor(None, finish, envelopes, enricher)
        except Exception as exc:
            outcomes = [
                dead_letter(internal_error(exc, Stage.ENTITIES), e.source(), e.article.uri) for e in envelopes
            ]
        for envelope, outcome in zip(envelopes, outcomes, strict=True):
            if isinstance(outcome, DeadLetter):
                await publisher.dead(outcome)
                continue
            await publisher.outcome(outcome, envelope.source())
            keys = [speaker_key(outcome, i) for i in range(len(outcome.quotes))]
            entry = {"uri": outcome.id, "version": outcome.version, "keys": keys}
            await publisher.send(quote_index_topic, outcome.id.encode(), orjson.dumps(entry))

    @app.agent(quote_index_topic, name="quote-index")
    async def quote_index_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        """Remembers under which speaker keys a story's quotes went out, to retract them on a kill
        or when a newer version has fewer quotes. A plain per-event agent, so its table writes follow
        the event's partition (Faust cannot place table writes made from a batch)."""
        publisher = Publisher(**output_topics)
        async for event in events_to_settle(stream):
            async with publisher.settling(stream, [event], "quote-index"):
                try:
                    data = orjson.loads(event.value)
                    uri = data.get("retract") or data["uri"]
                    previous = quote_speakers.get(uri)
                    if "retract" in data:
                        await publisher.retract_quotes(uri, previous)
                        if previous is not None:
                            del quote_speakers[uri]
                    else:
                        if previous and previous["version"] < data["version"]:
                            await publisher.retract_quotes(uri, previous, keep=len(data["keys"]))
                        quote_speakers[uri] = {"version": data["version"], "keys": data["keys"]}
                except Exception as exc:  # bookkeeping only: the outcome is already out; never stop here
                    log.error(
                        "quotes.index_failed",
                        error=f"{type(exc).__name__}: {exc}",
                        offset=event.message.offset,
                    )
            yield None

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(app_: faust.App, assigned: Any, **_: Any) -> None:
        state["assigned"] = True
        state["rebuild_dedup_index"] = True
        metrics.REBALANCES.inc()
        metrics.READY.set(1)  # the model is loaded before the app starts
        log.info("worker.partitions_assigned", count=len(assigned))

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def _table_sizes() -> None:
        metrics.TABLE_SIZE.labels(table="versions").set(len(versions))
        metrics.TABLE_SIZE.labels(table="dedup-index").set(len(dedup_index))

    lag_topics = {settings.topic_raw, *(internal_topic(settings, s) for s in ("dedup", "nlp", "quote-index"))}
    lag_labels: set[tuple[str, str]] = set()

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]
    async def _consumer_lag() -> None:
        """Log end minus committed offset (the next to read) per assigned agent input partition."""
        try:
            consumer: Any = app.consumer
            assigned = [tp for tp in consumer.assignment() if tp.topic in lag_topics]
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
            for labels in lag_labels - current:  # revoked in a rebalance: another worker reports it
                metrics.CONSUMER_LAG.remove(*labels)
            lag_labels.clear()
            lag_labels.update(current)
        except Exception as exc:  # a metric must never stop the worker (e.g. during a rebalance)
            log.debug("metrics.consumer_lag_failed", error=f"{type(exc).__name__}: {exc}")

    @app.page("/health")
    async def _health(web: Any, request: Any) -> Any:
        return aiohttp_web.json_response({"status": "alive"})

    @app.page("/ready")
    async def _ready(web: Any, request: Any) -> Any:
        return aiohttp_web.json_response(
            {"model_loaded": True, "partitions_assigned": state["assigned"]},
            status=200 if state["assigned"] else 503,
        )

    @app.page("/metrics")
    async def _metrics(web: Any, request: Any) -> Any:
        body, content_type = metrics.render()
        return aiohttp_web.Response(body=body, headers={"Content-Type": content_type})

    return app
