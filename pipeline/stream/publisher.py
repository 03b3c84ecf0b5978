"""Publishing outcomes: the enriched record, its quote records, dead letters, and the canonical log line.

An agent sends through a ``Publisher`` and settles its inputs only after the broker has acknowledged
every record sent for them (``settling``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from pipeline.logs import get_logger
from pipeline.process import Source
from pipeline.stream import metrics
from pipeline.stream.acks import settling
from schemas.records import DeadLetter, EnrichedArticle, QuoteRecord

log = get_logger("wirepipe.worker")


def speaker_key(record: EnrichedArticle, index: int) -> str:
    """Key of a quote record: the canonical speaker, so one speaker's quotes share a partition."""
    quote = record.quotes[index]
    return quote.speaker_entity_id or (f"name:{quote.speaker}" if quote.speaker else f"unknown:{record.id}")


class Publisher:
    """Sends outcomes, quote records and dead letters, and writes the canonical log line."""

    def __init__(self, enriched: Any, quotes: Any, deadletter: Any) -> None:
        self.enriched = enriched
        self.quotes = quotes
        self.deadletter = deadletter
        self._pending: list[Any] = []

    async def send(self, topic: Any, key: bytes | None, value: bytes | None) -> None:
        """Hand a record to the producer; ``delivered`` waits for the broker's acknowledgement."""
        self._pending.append(await topic.send(key=key, value=value))

    async def delivered(self) -> None:
        """Wait until everything sent for the current input is acknowledged by the broker."""
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
        # A late, lower version must not become the last value of the story's key on the compacted
        # topic (it would replace the current version), so it is published under its own key.
        key = (f"{record.id}@stale-v{record.version}" if record.outcome == "stale" else record.id).encode()
        await self.send(self.enriched, key, record.model_dump_json().encode())
        if record.outcome == "withdrawn":
            await self.send(self.enriched, key, None)  # tombstone: compaction removes the story
        for index, quote in enumerate(record.quotes):
            quote_record = QuoteRecord(
                article_id=record.id,
                article_version=record.version,
                index=index,
                speaker_key=speaker_key(record, index),
                quote=quote,
                headline=record.headline,
                processed_at=record.processed_at,
            )
            value = quote_record.model_dump_json().encode()
            await self.send(self.quotes, quote_record.speaker_key.encode(), value)
        metrics.OUTCOMES.labels(outcome=record.outcome).inc()
        for stage, ms in record.timings_ms.items():
            metrics.STAGE_SECONDS.labels(stage=stage).observe(ms / 1000)
        log.info(
            "article.outcome",
            article_id=record.id,
            version=record.version,
            outcome=record.outcome,
            duplicate_of=record.duplicate.duplicate_of,
            entities=len(record.entities),
            quotes=len(record.quotes),
            timings_ms=record.timings_ms,
            **_where(source),
        )

    async def retract_quotes(self, article_id: str, published: Any, keep: int = 0) -> None:
        """Retract quotes published for a story, by the speaker key each went out under.

        ``keep`` quotes of a newer version replace the first indexes; only the indexes beyond them
        (and all of them on a kill, ``keep`` 0) are retracted.
        """
        if not published:
            return
        for index, key in enumerate(published["keys"]):
            if index < keep:
                continue
            retraction = QuoteRecord(
                article_id=article_id,
                article_version=int(published["version"]),
                index=index,
                speaker_key=key,
                retracted=True,
                processed_at=datetime.now(UTC),
            )
            await self.send(self.quotes, key.encode(), retraction.model_dump_json().encode())
        log.info("quotes.retracted", article_id=article_id, count=max(0, len(published["keys"]) - keep))

    async def dead(self, record: DeadLetter) -> None:
        key = (record.article_id or "").encode() or None
        await self.send(self.deadletter, key, record.model_dump_json().encode())
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


def _where(source: Source | None) -> dict[str, Any]:
    if source is None:
        return {}
    return {"topic": source.topic, "partition": source.partition, "offset": source.offset}
