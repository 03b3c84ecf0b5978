"""The nlp agent: entities and quotes for unique articles, in batches, in the worker's NLP process.

A batch goes to the child process that runs spaCy (``NlpProcess``), which returns each article's records
ready to send. The agent publishes them in order and keeps, per story, the speaker keys its quotes went
out under (``quote_speakers``), so that a newer version with fewer quotes, or a withdrawal, retracts them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import faust

from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.logs import get_logger
from pipeline.process import dead_letter, internal_error
from pipeline.stream import metrics
from pipeline.stream.acks import skip_finished
from pipeline.stream.nlp_process import NlpProcess, NlpResult, Unreadable
from pipeline.stream.outputs import Published
from pipeline.stream.publisher import Publisher
from pipeline.stream.tables import writing_for
from pipeline.stream.wiring import Wiring, retracted_uri, source_of
from pipeline.wire import WireEnvelope
from schemas.records import DeadLetter

log = get_logger("wirepipe.worker")


def register(w: Wiring, nlp: NlpProcess) -> None:
    """Register the nlp agent on ``w.app``; its batches run in ``nlp``."""

    @w.app.agent(w.nlp_topic, name="nlp")
    async def nlp_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        publisher = w.publisher(read_originals=True)
        settings = w.settings
        async for batch in stream.take_events(  # type: ignore[attr-defined]  # missing from faust's StreamT
            settings.batch_size, within=settings.batch_timeout_s
        ):
            events = await skip_finished(stream, batch)
            if events:
                async with publisher.settling(stream, events, "nlp"):
                    await _enrich_batch(w, nlp, publisher, events)
            yield None


async def _enrich_batch(w: Wiring, nlp: NlpProcess, publisher: Publisher, events: list[Any]) -> None:
    articles = [e for e in events if retracted_uri(e.value) is None]
    metrics.BATCH_SIZE.observe(len(articles))
    results = await _analyse(nlp, articles) if articles else []
    result_of = {id(e): r for e, r in zip(articles, results, strict=True)}
    for event in events:  # in order: a retraction after an earlier version of its story
        with writing_for(event):  # the quote-speakers table: this event's partition
            uri = retracted_uri(event.value)
            if uri is not None:
                await _forget_quotes(w, publisher, uri)
                continue
            result = result_of[id(event)]
            if isinstance(result, Published):
                await publisher.publish(result)
                await _remember_quotes(w, publisher, result)
            elif isinstance(result, DeadLetter):
                await publisher.dead(result, read_original=True)
            else:  # not an envelope: a bug upstream; the message itself is the evidence
                error = StageError(ErrorCode.E_INTERNAL, Stage.ENTITIES, result.error)
                await publisher.dead(dead_letter(error, source_of(event)))


async def _analyse(nlp: NlpProcess, events: list[Any]) -> list[NlpResult]:
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


async def _remember_quotes(w: Wiring, publisher: Publisher, published: Published) -> None:
    """Record under which speaker keys a story's quotes went out; retract those a newer version
    no longer has. Bookkeeping only: the outcome is out, so a failure here is logged, never raised."""
    uri = published.article_id
    try:
        previous = w.quote_speakers.get(uri)
        if previous and previous["version"] < published.version:
            await publisher.retract_quotes(uri, previous, keep=len(published.quote_keys))
        w.quote_speakers[uri] = {"version": published.version, "keys": published.quote_keys}
    except Exception as exc:
        log.error("quotes.index_failed", article_id=uri, error=f"{type(exc).__name__}: {exc}")


async def _forget_quotes(w: Wiring, publisher: Publisher, uri: str) -> None:
    """A withdrawn or withheld story: retract every quote it published."""
    try:
        previous = w.quote_speakers.get(uri)
        await publisher.retract_quotes(uri, previous)
        if previous is not None:
            del w.quote_speakers[uri]
    except Exception as exc:
        log.error("quotes.index_failed", article_id=uri, error=f"{type(exc).__name__}: {exc}")
