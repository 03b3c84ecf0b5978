"""The ingest agent: raw messages to an envelope for the dedup step, or straight to their outcome.

Decodes, checks the story's version against the ``versions`` table (kills, holds and stale versions end
here), cleans and hashes. Anything that cannot be processed becomes a dead letter with its original bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import faust

from pipeline.envelope import Envelope, dead_letter, internal_error
from pipeline.errors import Stage, StageError
from pipeline.process import ingest, is_retraction
from pipeline.stream.acks import skip_finished
from pipeline.stream.publisher import Publisher
from pipeline.stream.tables import writing_for
from pipeline.stream.wiring import FORGET_KEY, HOP_BATCH, HOP_WITHIN_S, INDEX_KEY, Wiring, source_of


def register(w: Wiring) -> None:
    """Register the ingest agent on ``w.app``."""

    @w.app.agent(w.raw_topic, name="ingest")
    async def ingest_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        publisher = w.publisher()
        async for batch in stream.take_events(HOP_BATCH, within=HOP_WITHIN_S):  # type: ignore[attr-defined]
            events = await skip_finished(stream, batch)
            if events:
                async with publisher.settling(stream, events, "ingest"):
                    for event in events:
                        with writing_for(event):  # the versions table: this event's partition
                            await _ingest(w, publisher, event)
            yield None


async def _ingest(w: Wiring, publisher: Publisher, event: Any) -> None:
    source = source_of(event)
    try:
        step = ingest(source, w.versions, w.limits)
    except StageError as exc:
        await publisher.dead(dead_letter(exc, source))
    except Exception as exc:  # a bug must become a dead letter, never a stopped partition
        await publisher.dead(dead_letter(internal_error(exc, Stage.CLEAN), source))
    else:
        if isinstance(step, Envelope):
            await publisher.send(w.dedup_name, INDEX_KEY, step.to_wire())
        else:
            await publisher.outcome(step, source)
            if is_retraction(step):
                # Through the dedup partition, so the retraction reaches the nlp step after
                # any earlier version of the story still on its way there.
                await publisher.send(w.dedup_name, FORGET_KEY, step.id.encode())
