"""The Faust app: topics, tables and three agents. The thin shell around ``process``.

    raw (N partitions, key uri)  --ingest-->  <app>.dedup (1 partition)  --dedup-->  <app>.nlp (N, key uri)
        versions table (by uri)                 dedup-index table               quote-speakers table
    <app>.nlp  --nlp (spaCy in a child process)-->  enriched, quotes
    any failure at any step  --> deadletter

Every agent takes its input in batches (``take_events``): the records a batch sends go to the broker
together and are acknowledged together, instead of one round trip per article and step.

Offsets: an agent settles its inputs only after the broker acknowledged every output sent for them, and
Faust flushes the producer (table changelogs) before it commits offsets (faust/transport/consumer.py
``_commit_offsets``), so a crash re-delivers, never loses: at-least-once, with outcomes keyed by uri and
identical on re-emit.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import faust
import orjson
from aiohttp import web as aiohttp_web

from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.logs import get_logger
from pipeline.process import (
    Envelope,
    Limits,
    Source,
    article_outcome,
    dead_letter,
    ingest,
    internal_error,
    is_retraction,
)
from pipeline.settings import Settings
from pipeline.stages.dedup import DerivedIndexStore, expire, forget
from pipeline.stream import metrics
from pipeline.stream.acks import skip_finished
from pipeline.stream.cputime import worker_parts
from pipeline.stream.kafka_config import faust_credentials, internal_topic, table_partitions
from pipeline.stream.nlp_process import NlpProcess, NlpResult, Unreadable
from pipeline.stream.originals import Originals
from pipeline.stream.outputs import Published
from pipeline.stream.publisher import Publisher
from pipeline.stream.tables import Table, writing_for
from pipeline.stream.topic import Topic
from pipeline.stream.transport import WirepipeApp
from pipeline.wire import WireEnvelope, check_duplicate_wire
from schemas.records import DeadLetter

log = get_logger("wirepipe.worker")

INDEX_KEY = b"index"  # every message on the single dedup partition: look up and index an article
FORGET_KEY = b"forget"  # value is a uri: a withdrawn or withheld story leaves the index
# The ingest and dedup agents take up to HOP_BATCH events at once, waiting at most HOP_WITHIN_S for them.
# At a trickle each of the two steps adds up to that much latency, and an idle agent wakes that often to
# find nothing (at 20 ms, two idle agents took 1.6 % of a core); under load batches fill at once.
# (Batches of just what is already queued, without a timeout, made Faust leave partitions unread after a
# rebalance in 3 of 8 two-worker runs, until the consumer's stall watch read them again a minute later.)
HOP_BATCH = 100
HOP_WITHIN_S = 0.05


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


def retraction(uri: str) -> bytes:
    """The nlp-topic message that retracts a story's quotes (in order behind its earlier versions)."""
    return orjson.dumps({"retract": uri})


def retracted_uri(value: bytes | None) -> str | None:
    """The uri of a ``retraction`` message, None for an envelope."""
    if not value or not value.startswith(b'{"retract":'):
        return None
    uri = orjson.loads(value).get("retract")
    return uri if isinstance(uri, str) else None


def create_app(settings: Settings, nlp: NlpProcess) -> faust.App:
    """Build the Faust app around a started NLP process (the worker command starts it first, so a bad
    model stops the worker before it joins the group)."""
    app = WirepipeApp(
        settings.app_id,
        broker=[f"kafka://{hostport}" for hostport in settings.kafka_bootstrap.split(",")],
        broker_credentials=faust_credentials(settings),
        Topic=Topic,  # sends skip Faust's per-message producer start-up guard (pipeline/stream/topic.py)
        Table=Table,  # writes made for one event of a batch go to that event's partition
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
        # One spaCy batch can take seconds on a slow machine; NLP runs in its own process, so the
        # loop keeps heartbeating, but leave the poll interval generous for the largest batch.
        broker_max_poll_interval=600.0,
        broker_session_timeout=30.0,
        broker_heartbeat_interval=3.0,
        broker_commit_interval=1.0,
        producer_max_request_size=settings.topic_max_message_bytes,
        # Up to 1 MiB per record batch (Faust's default is 16 KiB, four envelopes): what an agent batch
        # sends to one partition goes out as one record batch, which the broker appends and the consumer
        # decodes as one.
        producer_max_batch_size=1_048_576,
        consumer_max_fetch_size=settings.topic_max_message_bytes,
    )
    limits = limits_from(settings)
    state: dict[str, Any] = {"assigned": False, "rebuild_dedup_index": True}
    originals = Originals(settings)
    metrics.CPU.measure = lambda: worker_parts(nlp.total_cpu_seconds)

    raw_topic = app.topic(settings.topic_raw, partitions=settings.partitions)
    size = {"max.message.bytes": str(settings.topic_max_message_bytes)}  # an envelope holds a whole article
    dedup_topic = app.topic(internal_topic(settings, "dedup"), partitions=1, internal=True, config=size)
    nlp_topic = app.topic(
        internal_topic(settings, "nlp"), partitions=settings.partitions, internal=True, config=size
    )
    outputs: dict[str, Any] = {
        "enriched": settings.topic_enriched,
        "quotes": settings.topic_quotes,
        "deadletter": settings.topic_deadletter,
    }
    dedup_name, nlp_name = dedup_topic.get_topic_name(), nlp_topic.get_topic_name()
    tables = table_partitions(settings)  # created with their changelogs by ensure_topics
    versions = app.Table("versions", default=None, partitions=tables["versions"])
    dedup_index = app.Table("dedup-index", default=None, partitions=tables["dedup-index"])
    # The table holds the articles; their LSH buckets and expiry index are derived in memory, and
    # derived again after every rebalance (the table may have just been restored from its changelog).
    dedup_store = DerivedIndexStore(dedup_index)
    # uri -> {"version", "keys"}: the speaker keys of the quotes last published for a story, to retract
    # them on a kill or when a newer version has fewer quotes. Keyed and partitioned like the nlp topic.
    quote_speakers = app.Table("quote-speakers", default=None, partitions=tables["quote-speakers"])

    @app.agent(raw_topic, name="ingest")
    async def ingest_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        publisher = Publisher(app.producer, **outputs)  # one per agent: its own pending sends
        async for batch in stream.take_events(HOP_BATCH, within=HOP_WITHIN_S):  # type: ignore[attr-defined]
            events = await skip_finished(stream, batch)
            if events:
                async with publisher.settling(stream, events, "ingest"):
                    for event in events:
                        with writing_for(event):  # the versions table: this event's partition
                            await _ingest(publisher, event)
            yield None

    async def _ingest(publisher: Publisher, event: Any) -> None:
        source = _source(event)
        try:
            step = ingest(source, versions, limits)
        except StageError as exc:
            await publisher.dead(dead_letter(exc, source))
        except Exception as exc:  # a bug must become a dead letter, never a stopped partition
            await publisher.dead(dead_letter(internal_error(exc, Stage.CLEAN), source))
        else:
            if isinstance(step, Envelope):
                await publisher.send(dedup_name, INDEX_KEY, step.to_wire())
            else:
                await publisher.outcome(step, source)
                if is_retraction(step):
                    # Through the dedup partition, so the retraction reaches the nlp step after
                    # any earlier version of the story still on its way there.
                    await publisher.send(dedup_name, FORGET_KEY, step.id.encode())

    @app.agent(dedup_topic, name="dedup")
    async def dedup_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        publisher = Publisher(app.producer, **outputs, originals=originals)
        last_sweep = 0.0
        async for batch in stream.take_events(HOP_BATCH, within=HOP_WITHIN_S):  # type: ignore[attr-defined]
            events = await skip_finished(stream, batch)
            if events:
                async with publisher.settling(stream, events, "dedup"):
                    if state["rebuild_dedup_index"]:
                        _rebuild_dedup_index()
                    now = time.time()
                    if now - last_sweep > 60:  # expiry here: table writes belong to this partition's agent
                        expired = expire(dedup_store, now, retention_s=limits.retention_s)
                        last_sweep = now
                        if expired:
                            log.info("dedup.expired", articles=expired)
                    for event in events:
                        with writing_for(event):
                            await _dedup(publisher, event)
            yield None

    def _rebuild_dedup_index() -> None:
        started = time.perf_counter()
        articles = dedup_store.rebuild()
        state["rebuild_dedup_index"] = False
        log.info("dedup.index_rebuilt", articles=articles, seconds=round(time.perf_counter() - started, 3))

    async def _dedup(publisher: Publisher, event: Any) -> None:
        if event.message.key == FORGET_KEY:
            uri = event.value.decode()
            forget(dedup_store, uri)
            await publisher.send(nlp_name, event.value, retraction(uri))
            return
        try:
            hop = WireEnvelope.parse(event.value)
        except Exception as exc:  # not an envelope: a bug upstream; the message itself is the evidence
            await publisher.dead(dead_letter(internal_error(exc, Stage.DEDUP), _source(event)))
            return
        try:
            hop = check_duplicate_wire(hop, dedup_store, limits)
            if hop.is_duplicate:
                envelope = hop.envelope()
                await publisher.outcome(article_outcome(envelope), envelope.source())
                return
        except Exception as exc:
            error = dead_letter(internal_error(exc, Stage.DEDUP), hop.source(), hop.uri)
            await publisher.dead(error, read_original=True)
            return
        await publisher.send(nlp_name, hop.uri.encode(), hop.to_wire())

    @app.agent(nlp_topic, name="nlp")
    async def nlp_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        publisher = Publisher(app.producer, **outputs, originals=originals)
        async for batch in stream.take_events(  # type: ignore[attr-defined]  # missing from faust's StreamT
            settings.batch_size, within=settings.batch_timeout_s
        ):
            events = await skip_finished(stream, batch)
            if events:
                async with publisher.settling(stream, events, "nlp"):
                    await _enrich_batch(publisher, events)
            yield None

    async def _enrich_batch(publisher: Publisher, events: list[Any]) -> None:
        articles = [e for e in events if retracted_uri(e.value) is None]
        metrics.BATCH_SIZE.observe(len(articles))
        results = await _analyse(articles) if articles else []
        result_of = {id(e): r for e, r in zip(articles, results, strict=True)}
        for event in events:  # in order: a retraction after an earlier version of its story
            with writing_for(event):  # the quote-speakers table: this event's partition
                uri = retracted_uri(event.value)
                if uri is not None:
                    await _forget_quotes(publisher, uri)
                    continue
                result = result_of[id(event)]
                if isinstance(result, Published):
                    await publisher.publish(result)
                    await _remember_quotes(publisher, result)
                elif isinstance(result, DeadLetter):
                    await publisher.dead(result, read_original=True)
                else:  # not an envelope: a bug upstream; the message itself is the evidence
                    error = StageError(ErrorCode.E_INTERNAL, Stage.ENTITIES, result.error)
                    await publisher.dead(dead_letter(error, _source(event)))

    async def _analyse(events: list[Any]) -> list[NlpResult]:
        started = time.perf_counter()
        try:
            return await nlp.finish([e.value for e in events])
        except Exception as exc:  # the whole batch failed (spaCy raised, or its process died)
            failed: list[NlpResult] = []
            for event in events:
                try:
                    hop = WireEnvelope.parse(event.value)
                except Exception:
                    failed.append(Unreadable(f"{type(exc).__name__}: {exc}"))
                    continue
                failed.append(dead_letter(internal_error(exc, Stage.ENTITIES), hop.source(), hop.uri))
            return failed
        finally:
            metrics.NLP_BUSY.inc(time.perf_counter() - started)

    async def _remember_quotes(publisher: Publisher, published: Published) -> None:
        """Record under which speaker keys a story's quotes went out; retract those a newer version
        no longer has. Bookkeeping only: the outcome is out, so a failure here is logged, never raised."""
        uri = published.article_id
        try:
            previous = quote_speakers.get(uri)
            if previous and previous["version"] < published.version:
                await publisher.retract_quotes(uri, previous, keep=len(published.quote_keys))
            quote_speakers[uri] = {"version": published.version, "keys": published.quote_keys}
        except Exception as exc:
            log.error("quotes.index_failed", article_id=uri, error=f"{type(exc).__name__}: {exc}")

    async def _forget_quotes(publisher: Publisher, uri: str) -> None:
        """A withdrawn or withheld story: retract every quote it published."""
        try:
            previous = quote_speakers.get(uri)
            await publisher.retract_quotes(uri, previous)
            if previous is not None:
                del quote_speakers[uri]
        except Exception as exc:
            log.error("quotes.index_failed", article_id=uri, error=f"{type(exc).__name__}: {exc}")

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

    lag_topics = {settings.topic_raw, *(internal_topic(settings, s) for s in ("dedup", "nlp"))}
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
