"""Publishing outcomes: the enriched record, its quote records, dead letters, and the canonical log line.

An agent sends through a ``Publisher`` and settles its inputs only after the broker has acknowledged
every record sent for them (``settling``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pipeline.envelope import Source
from pipeline.logs import get_logger
from pipeline.stages.changes import StorySnapshot
from pipeline.stream import metrics
from pipeline.stream.acks import settling
from pipeline.stream.originals import OriginalNotFoundError, Originals
from pipeline.stream.outputs import Published, outcome_outputs, withdrawal_outputs
from schemas.records import DeadLetter, EnrichedArticle

log = get_logger("wirepipe.worker")


class Publisher:
    """Sends outcomes, quote records and dead letters, and writes the canonical log line.

    Records go straight to the producer of Faust's transport (aiokafka's, which batches them): Faust's
    ``Topic.send`` adds a pending-message object, callbacks and sensor calls per record that nothing
    here uses. Faust still flushes that producer before it commits offsets.
    """

    def __init__(
        self, producer: Any, enriched: str, quotes: str, deadletter: str, originals: Originals | None = None
    ) -> None:
        self.producer = producer
        self.topics = {"enriched": enriched, "quotes": quotes, "deadletter": deadletter}
        self.originals = originals
        self._pending: list[Any] = []

    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """Hand a record to the producer; ``delivered`` waits for the broker's acknowledgement."""
        self._pending.append(await self.producer.send(topic, key, value, None, None, None))

    async def delivered(self) -> None:
        """Wait until everything sent for the current inputs is acknowledged by the broker."""
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)

    @asynccontextmanager
    async def settling(self, stream: Any, events: list[Any], agent: str) -> AsyncIterator[None]:
        """Run an agent's work on some inputs; they are settled once the broker has acknowledged
        every output, or released (and read again) if anything fails before that."""
        async with settling(stream, events, agent):
            try:
                yield
                await self.delivered()
            finally:
                self._pending = []

    async def outcome(self, record: EnrichedArticle, source: Source | None = None) -> None:
        await self.publish(outcome_outputs(record, source))

    async def publish(self, published: Published) -> None:
        """Send an outcome's records, count it, and write its ``article.outcome`` line."""
        for output in published.records:
            await self.send(self.topics[output.topic], output.key, output.value)
        metrics.OUTCOMES.labels(outcome=published.outcome).inc()
        for stage, ms in published.timings_ms.items():
            metrics.STAGE_SECONDS.labels(stage=stage).observe(ms / 1000)
        log.info("article.outcome", **published.log)

    async def withdraw_quotes(self, story: StorySnapshot) -> None:
        """Retract every quote a withdrawn or withheld story last published, under the key each went out
        under."""
        for output in withdrawal_outputs(story):
            await self.send(self.topics[output.topic], output.key, output.value)
        log.info("quotes.retracted", article_id=story.uri, count=len(story.quotes))

    async def dead(self, record: DeadLetter, *, read_original: bool = False) -> None:
        """Send a dead letter. ``read_original``: it was raised after ingest, from an envelope that does
        not carry the original message, so read it back from the raw topic first."""
        if read_original:
            record = await self._with_original(record)
        key = (record.article_id or "").encode() or None
        await self.send(self.topics["deadletter"], key, record.model_dump_json().encode())
        metrics.DEAD_LETTERS.labels(code=record.error_code).inc()
        log.warning(
            "article.dead_letter",
            article_id=record.article_id,
            error_code=record.error_code,
            stage=record.stage,
            reason=record.message[:300],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )

    async def _with_original(self, record: DeadLetter) -> DeadLetter:
        topic, partition, offset = record.topic, record.partition, record.offset
        if self.originals is None or topic is None or partition is None or offset is None:
            return record
        try:
            value = await self.originals.read(topic, partition, offset)
        except OriginalNotFoundError as exc:
            note = f" (the original message was not read back: {exc})"
            return record.model_copy(update={"message": record.message[: 2000 - len(note)] + note})
        return record.model_copy(update={"original_b64": base64.b64encode(value or b"").decode("ascii")})
