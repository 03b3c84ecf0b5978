"""The nlp agent: entities, quotes and changes for unique articles, in batches, in the NLP process.

A batch goes to the child process that runs spaCy (``NlpProcess``) with the last published version of
each article's story, from the ``stories`` table; the child returns each article's records ready to send
(the record with its ``changes``, retractions of quotes the new version dropped, the quote records) and
what to keep of the story. The agent publishes them in order and keeps the story; a withdrawal or a hold
retracts every quote the story published and marks the story withdrawn (its last version, if delivered
again, is then published as it was). Stories not updated for the retention time leave the table.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import faust

from pipeline.envelope import dead_letter, internal_error
from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.logs import get_logger
from pipeline.stages.changes import StorySnapshot, expired
from pipeline.stream import metrics
from pipeline.stream.acks import skip_finished
from pipeline.stream.nlp_process import NlpProcess, NlpResult, Unreadable
from pipeline.stream.outputs import Published
from pipeline.stream.publisher import Publisher
from pipeline.stream.tables import writing_for, writing_to
from pipeline.stream.wiring import Wiring, retracted_uri, source_of
from pipeline.wire import WireEnvelope
from schemas.records import DeadLetter

log = get_logger("wirepipe.worker")

SWEEP_EVERY_S = 60  # stories past the retention leave the table this often
_PARTITION = "p"  # the stories-table partition an entry was written to, kept in the entry for the sweep


def register(w: Wiring, nlp: NlpProcess) -> None:
    """Register the nlp agent on ``w.app``; its batches run in ``nlp``."""

    @w.app.agent(w.nlp_topic, name="nlp")
    async def nlp_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        publisher = w.publisher(read_originals=True)
        settings = w.settings
        last_sweep = time.time()
        async for batch in stream.take_events(  # type: ignore[attr-defined]  # missing from faust's StreamT
            settings.batch_size, within=settings.batch_timeout_s
        ):
            events = await skip_finished(stream, batch)
            if events:
                async with publisher.settling(stream, events, "nlp"):
                    await _enrich_batch(w, nlp, publisher, events)
                    if time.time() - last_sweep > SWEEP_EVERY_S:  # table writes belong to an agent
                        last_sweep = time.time()
                        _sweep_stories(w, last_sweep)
            yield None


async def _enrich_batch(w: Wiring, nlp: NlpProcess, publisher: Publisher, events: list[Any]) -> None:
    articles = [e for e in events if retracted_uri(e.value) is None]
    metrics.BATCH_SIZE.observe(len(articles))
    results = await _analyse(w, nlp, articles) if articles else []
    result_of = {id(e): r for e, r in zip(articles, results, strict=True)}
    for event in events:  # in order: a retraction after an earlier version of its story
        with writing_for(event):  # the stories table: this event's partition
            uri = retracted_uri(event.value)
            if uri is not None:
                await _forget_story(w, publisher, uri)
                continue
            result = result_of[id(event)]
            if isinstance(result, Published):
                await publisher.publish(result)
                _keep_story(w, result, event.message.partition)
            elif isinstance(result, DeadLetter):
                await publisher.dead(result, read_original=True)
            else:  # not an envelope: a bug upstream; the message itself is the evidence
                error = StageError(ErrorCode.E_INTERNAL, Stage.ENTITIES, result.error)
                await publisher.dead(dead_letter(error, source_of(event)))


async def _analyse(w: Wiring, nlp: NlpProcess, events: list[Any]) -> list[NlpResult]:
    started = time.perf_counter()
    try:
        return await nlp.finish([e.value for e in events], [_story_of(w, e) for e in events])
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


def _story_of(w: Wiring, event: Any) -> dict[str, Any] | None:
    """The last published version of the event's story (keyed by uri, as the nlp topic), unless expired."""
    key = event.message.key
    state = w.stories.get(key.decode()) if key else None
    if state is None or expired([("", state)], time.time(), retention_s=w.limits.retention_s):
        return None
    return dict(state)


def _keep_story(w: Wiring, published: Published, partition: int) -> None:
    """Keep what was published of the story for its next version. Bookkeeping only: the outcome is out,
    so a failure here is logged, never raised (the next version then has no ``changes``)."""
    if published.story is None:
        return
    try:
        w.stories[published.article_id] = {**published.story, _PARTITION: partition}
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.error("stories.keep_failed", article_id=published.article_id, error=error)


async def _forget_story(w: Wiring, publisher: Publisher, uri: str) -> None:
    """A withdrawn or withheld story: retract every quote it published, and mark it withdrawn. It is not
    dropped at once: its last version may still be delivered again (at-least-once), and must then be
    published as it was the first time (``track``); it leaves the table when it expires."""
    try:
        state = w.stories.get(uri)
        if state is None:
            return
        story = StorySnapshot.from_state(state)
        if story.withdrawn:
            return
        await publisher.withdraw_quotes(story)
        marked = story.model_copy(update={"withdrawn": True, "saved_at": time.time()})
        w.stories[uri] = {**marked.to_state(), _PARTITION: state.get(_PARTITION)}
    except Exception as exc:
        log.error("stories.forget_failed", article_id=uri, error=f"{type(exc).__name__}: {exc}")


def _sweep_stories(w: Wiring, now: float) -> None:
    """Drop the stories of this worker's partitions not updated for the retention time (the table keeps
    revoked partitions' entries in memory too: those are the new owner's to sweep)."""
    nlp_topic = w.nlp_name
    mine = {tp.partition for tp in w.app.consumer.assignment() if tp.topic == nlp_topic}
    local = [(uri, state) for uri, state in w.stories.items() if state and state.get(_PARTITION) in mine]
    gone = expired(local, now, retention_s=w.limits.retention_s)
    partition_of = {uri: state[_PARTITION] for uri, state in local}
    for uri in gone:
        with writing_to(partition_of[uri]):
            del w.stories[uri]
    if gone:
        log.info("stories.expired", stories=len(gone))
