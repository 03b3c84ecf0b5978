"""What one outcome publishes: its records with their keys, and the fields of its log line.

Pure and free of Faust: the NLP child process builds these for the articles it enriched, so the worker's
event loop only sends bytes (pickling pydantic records back from the child costs ten times more than
serialising them there). ``Publisher`` sends them and writes the log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pipeline.envelope import Source
from pipeline.stages.changes import QuoteRetraction, StorySnapshot, StoryUpdate, quote_key, quote_withdrawals
from schemas.records import EnrichedArticle, QuoteRecord, QuoteStatus

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
    timings_ms: dict[str, float]
    log: dict[str, Any] = field(default_factory=dict)  # the fields of the ``article.outcome`` line
    #: What to keep for the story in the ``stories`` table (``StorySnapshot.to_state``); None: leave it.
    story: dict[str, Any] | None = None


def outcome_outputs(
    record: EnrichedArticle, source: Source | None = None, story: StoryUpdate | None = None
) -> Published:
    """The enriched record (and its tombstone for a withdrawal), then for a published version the
    retractions of the previous version's quotes that are gone or moved (``story``), and one record per
    quote with what became of it."""
    # A late, lower version must not become the last value of the story's key on the compacted
    # topic (it would replace the current version), so it is published under its own key.
    key = (f"{record.id}@stale-v{record.version}" if record.outcome == "stale" else record.id).encode()
    records = [Output("enriched", key, record.model_dump_json().encode())]
    if record.outcome == "withdrawn":
        records.append(Output("enriched", key, None))  # tombstone: compaction removes the story
    statuses: list[QuoteStatus | None] = [None] * len(record.quotes)
    if story is not None:
        # Before the new quotes: a consumer that applies both ends with exactly this version's quotes.
        records += [_retraction(record.id, r) for r in story.retractions]
        statuses = list(story.quote_status)
    for index, (quote, status) in enumerate(zip(record.quotes, statuses, strict=True)):
        speaker = quote_key(quote, record.id)
        quote_record = QuoteRecord(
            article_id=record.id,
            article_version=record.version,
            index=index,
            speaker_key=speaker,
            quote=quote,
            status=status,
            headline=record.headline,
            processed_at=record.processed_at,
        )
        records.append(Output("quotes", speaker.encode(), quote_record.model_dump_json().encode()))
    where = {}
    if source is not None:
        where = {"topic": source.topic, "partition": source.partition, "offset": source.offset}
    changes = record.changes
    return Published(
        article_id=record.id,
        version=record.version,
        outcome=record.outcome,
        records=records,
        timings_ms=dict(record.timings_ms),
        log={
            "article_id": record.id,
            "version": record.version,
            "outcome": record.outcome,
            "duplicate_of": record.duplicate.duplicate_of,
            "entities": len(record.entities),
            "quotes": len(record.quotes),
            **({"changes": changes.summary} if changes is not None else {}),
            "timings_ms": record.timings_ms,
            **where,
        },
        story=story.snapshot.to_state() if story is not None else None,
    )


def _retraction(article_id: str, retraction: QuoteRetraction) -> Output:
    record = QuoteRecord(
        article_id=article_id,
        article_version=retraction.version,
        index=retraction.index,
        speaker_key=retraction.speaker_key,
        retracted=True,
        status=retraction.status,
        processed_at=datetime.now(UTC),
    )
    return Output("quotes", retraction.speaker_key.encode(), record.model_dump_json().encode())


def withdrawal_outputs(story: StorySnapshot) -> list[Output]:
    """Retractions of every quote a story last published: it was withdrawn or withheld."""
    return [_retraction(story.uri, retraction) for retraction in quote_withdrawals(story)]
