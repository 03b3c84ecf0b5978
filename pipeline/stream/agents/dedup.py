"""The dedup agent: the single partition that holds the duplicate index of every article seen.

Each envelope is looked up and indexed (``check_duplicate_wire``, without parsing its article): a
duplicate ends here with its outcome, a unique article goes on to the nlp topic keyed by uri. A forgotten
story (withdrawn or withheld) leaves the index, and its retraction goes on to the nlp step in order.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import faust

from pipeline.envelope import dead_letter, internal_error
from pipeline.errors import Stage
from pipeline.logs import get_logger
from pipeline.process import article_outcome
from pipeline.stages.dedup import expire, forget
from pipeline.stream.acks import skip_finished
from pipeline.stream.publisher import Publisher
from pipeline.stream.tables import writing_for
from pipeline.stream.wiring import FORGET_KEY, HOP_BATCH, HOP_WITHIN_S, Wiring, retraction, source_of
from pipeline.wire import WireEnvelope, check_duplicate_wire

log = get_logger("wirepipe.worker")

SWEEP_EVERY_S = 60  # expired articles leave the index this often


def register(w: Wiring) -> None:
    """Register the dedup agent on ``w.app``."""

    @w.app.agent(w.dedup_topic, name="dedup")
    async def dedup_agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        publisher = w.publisher(read_originals=True)
        last_sweep = 0.0
        async for batch in stream.take_events(HOP_BATCH, within=HOP_WITHIN_S):  # type: ignore[attr-defined]
            events = await skip_finished(stream, batch)
            if events:
                async with publisher.settling(stream, events, "dedup"):
                    if w.state.rebuild_dedup_index:
                        _rebuild_index(w)
                    now = time.time()
                    if now - last_sweep > SWEEP_EVERY_S:  # table writes belong to this partition's agent
                        expired = expire(w.dedup_store, now, retention_s=w.limits.retention_s)
                        last_sweep = now
                        if expired:
                            log.info("dedup.expired", articles=expired)
                    for event in events:
                        with writing_for(event):
                            await _dedup(w, publisher, event)
            yield None


def _rebuild_index(w: Wiring) -> None:
    started = time.perf_counter()
    articles = w.dedup_store.rebuild()
    w.state.rebuild_dedup_index = False
    log.info("dedup.index_rebuilt", articles=articles, seconds=round(time.perf_counter() - started, 3))


async def _dedup(w: Wiring, publisher: Publisher, event: Any) -> None:
    if event.message.key == FORGET_KEY:
        uri = event.value.decode()
        forget(w.dedup_store, uri)
        await publisher.send(w.nlp_name, event.value, retraction(uri))
        return
    try:
        hop = WireEnvelope.parse(event.value)
    except Exception as exc:  # not an envelope: a bug upstream; the message itself is the evidence
        await publisher.dead(dead_letter(internal_error(exc, Stage.DEDUP), source_of(event)))
        return
    try:
        hop = check_duplicate_wire(hop, w.dedup_store, w.limits)
        if hop.is_duplicate:
            envelope = hop.envelope()
            await publisher.outcome(article_outcome(envelope), envelope.source())
            return
    except Exception as exc:
        error = dead_letter(internal_error(exc, Stage.DEDUP), hop.source(), hop.uri)
        await publisher.dead(error, read_original=True)
        return
    await publisher.send(w.nlp_name, hop.uri.encode(), hop.to_wire())
