"""What one outcome publishes: its records with their keys, and the fields of its log line.

Pure and free of Faust: the NLP child process builds these for the articles it enriched, so the worker's
event loop only sends bytes (pickling pydantic records back from the child costs ten times more than
serialising them there). ``Publisher`` sends them and writes the log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline.process import Source
from schemas.records import EnrichedArticle, QuoteRecord

OutputTopic = Literal["enriched", "quotes"]


@dataclass(frozen=True)
class Output:
    """One record to send: which output topic, its key, its value (None: a tombstone)."""

    topic: OutputTopic
    key: bytes
    value: bytes | None


@dataclass(frozen=True)
class Published:
    """Everything an outcome sends, and what the worker logs and counts for it."""

    article_id: str
    version: int
    outcome: str
    records: list[Output]
    quote_keys: list[str]  # speaker key of each quote, in order: what a later retraction needs
    timings_ms: dict[str, float]
    log: dict[str, Any] = field(default_factory=dict)  # the fields of the ``article.outcome`` line


def speaker_key(record: EnrichedArticle, index: int) -> str:
    """Key of a quote record: the canonical speaker, so one speaker's quotes share a partition."""
    quote = record.quotes[index]
    return quote.speaker_entity_id or (f"name:{quote.speaker}" if quote.speaker else f"unknown:{record.id}")


def outcome_outputs(record: EnrichedArticle, source: Source | None = None) -> Published:
    """The enriched record (and its tombstone for a withdrawal) and one record per quote."""
    # A late, lower version must not become the last value of the story's key on the compacted
    # topic (it would replace the current version), so it is published under its own key.
    key = (f"{record.id}@stale-v{record.version}" if record.outcome == "stale" else record.id).encode()
    records = [Output("enriched", key, record.model_dump_json().encode())]
    if record.outcome == "withdrawn":
        records.append(Output("enriched", key, None))  # tombstone: compaction removes the story
    keys = [speaker_key(record, index) for index in range(len(record.quotes))]
    for index, (quote, speaker) in enumerate(zip(record.quotes, keys, strict=True)):
        quote_record = QuoteRecord(
            article_id=record.id,
            article_version=record.version,
            index=index,
            speaker_key=speaker,
            quote=quote,
            headline=record.headline,
            processed_at=record.processed_at,
        )
        records.append(Output("quotes", speaker.encode(), quote_record.model_dump_json().encode()))
    where = {}
    if source is not None:
        where = {"topic": source.topic, "partition": source.partition, "offset": source.offset}
    return Published(
        article_id=record.id,
        version=record.version,
        outcome=record.outcome,
        records=records,
        quote_keys=keys,
        timings_ms=dict(record.timings_ms),
        log={
            "article_id": record.id,
            "version": record.version,
            "outcome": record.outcome,
            "duplicate_of": record.duplicate.duplicate_of,
            "entities": len(record.entities),
            "quotes": len(record.quotes),
            "timings_ms": record.timings_ms,
            **where,
        },
    )


def retraction_outputs(article_id: str, published: dict[str, Any] | None, keep: int = 0) -> list[Output]:
    """Retractions of the quotes published for a story, by the speaker key each went out under.

    ``published`` is the story's entry in the quote-speakers table (``{"version", "keys"}``); ``keep``
    quotes of a newer version replace the first indexes, so only those beyond them (all of them on a
    kill) are retracted.
    """
    if not published:
        return []
    now = datetime.now(UTC)
    return [
        Output(
            "quotes",
            key.encode(),
            QuoteRecord(
                article_id=article_id,
                article_version=int(published["version"]),
                index=index,
                speaker_key=key,
                retracted=True,
                processed_at=now,
            )
            .model_dump_json()
            .encode(),
        )
        for index, key in enumerate(published["keys"])
        if index >= keep
    ]
