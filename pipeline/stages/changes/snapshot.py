"""What is kept of the last published version of a story, to diff the next version against it.

A ``StorySnapshot`` is plain JSON (``model_dump(mode="json")``, ``model_validate``): a dict offline, the value
of a changelog-backed table keyed by uri in the worker, so it survives a restart and a rebalance. It holds the
text (the diff needs all of it), the quotes with the keys they were published under, the entities, and what
was published with that version (its changes and quote statuses), so a re-delivery of the same version emits
the same record. ``expired`` bounds the state: snapshots older than the retention are dropped.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.stages.clean.furniture import CORRECTION_NOTE
from schemas.records import Changes, EnrichedArticle, Quote, QuoteKind, QuoteStatus

#: How long a story's snapshot is kept after its last published version (the dedup index's default): an
#: update arriving later is published without ``changes``.
STORY_RETENTION_S = 7 * 86_400.0

# A correction note inside a paragraph, as older wires append it: "... the company said. (corrects cts)".
_INLINE_NOTE = re.compile(
    r"\(\s*(?:corrects?|correcting|correction|corrected|clarifies)\b[^()]{0,300}\)", re.I
)


class _State(BaseModel):
    # State written by one release is read by the next: unknown fields are ignored, not refused.
    model_config = ConfigDict(frozen=True, extra="ignore")


class SnapshotQuote(_State):
    """A quote as it was published."""

    text: str
    speaker: str | None = None
    speaker_key: str = Field(description="the quotes-topic key it was published under")
    speaker_entity_id: str | None = None
    kind: QuoteKind = "direct"
    paragraph: int = 0


class SnapshotEntity(_State):
    """An entity as it was published, with the body paragraphs that mention it."""

    id: str
    name: str
    label: str
    paragraphs: list[int] = Field(default_factory=list)
    in_headline: bool = False


class QuoteRetraction(_State):
    """A retraction to publish for a quote of an earlier version: that version, the quote's index, the key it
    went out under, and what became of the quote ("retracted": gone, or the story withdrawn; "reattributed":
    now under another speaker key; "unchanged": same quote and speaker, now at another index)."""

    version: int
    index: int
    speaker_key: str
    status: QuoteStatus


class StorySnapshot(_State):
    """The last published version of a story: what the next version is compared with."""

    uri: str
    version: int
    saved_at: float = Field(description="unix time the snapshot was taken (for expiry)")
    pubstatus: str = "usable"
    headline: str | None = None
    headline_slug: str | None = None
    ednote: str | None = None
    paragraphs: list[str] = Field(default_factory=list)
    quotes: list[SnapshotQuote] = Field(default_factory=list)
    entities: list[SnapshotEntity] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="correction notes of the version")
    # What was published with this version, re-emitted as is when the same version is delivered again.
    changes: Changes | None = None
    quote_status: list[QuoteStatus] = Field(default_factory=list)
    retractions: list[QuoteRetraction] = Field(default_factory=list)
    # Withdrawn or withheld since: its quotes were retracted. Kept (until it expires) so that a version
    # delivered again gets what it was first published with; a new version starts afresh.
    withdrawn: bool = False

    def to_state(self) -> dict[str, Any]:
        """The JSON value to keep in a table: fields at their default left out (about an eighth smaller)."""
        return self.model_dump(mode="json", exclude_defaults=True)

    @classmethod
    def from_state(cls, value: dict[str, Any]) -> StorySnapshot:
        """The snapshot from a table's value (``to_state``, or a full ``model_dump``)."""
        return cls.model_validate(value)


def quote_key(quote: Quote, article_id: str) -> str:
    """The key a quote is published under on the quotes topic: the canonical speaker's entity id, else
    ``name:<speaker>``, else ``unknown:<article id>`` (as ``pipeline.stream.outputs.speaker_key``)."""
    if quote.speaker_entity_id:
        return quote.speaker_entity_id
    return f"name:{quote.speaker}" if quote.speaker else f"unknown:{article_id}"


def paragraph_texts(record: EnrichedArticle) -> list[str]:
    """The text of each body paragraph of a record."""
    return [record.body[p.start : p.end] for p in record.paragraphs]


def notes_of(record: EnrichedArticle) -> list[str]:
    """The correction notes of a version: those cleaning cut out, and those inside paragraphs."""
    cut = [r.text for r in record.removed if r.reason == CORRECTION_NOTE]
    return cut + [m.group() for m in _INLINE_NOTE.finditer(record.body)]


def snapshot_of(
    record: EnrichedArticle,
    quote_keys: Sequence[str],
    now: float,
    *,
    quote_status: Sequence[QuoteStatus] = (),
    retractions: Sequence[QuoteRetraction] = (),
) -> StorySnapshot:
    """The snapshot of a published record: ``quote_keys[i]`` is the key its quote ``i`` went out under;
    ``quote_status`` and ``retractions`` are what was published with it (kept for a re-delivery)."""
    if len(quote_keys) != len(record.quotes):
        raise ValueError(f"{len(quote_keys)} quote keys for {len(record.quotes)} quotes of {record.id}")
    starts = [p.start for p in record.paragraphs]
    return StorySnapshot(
        uri=record.id,
        version=record.version,
        saved_at=now,
        pubstatus=record.pubstatus,
        headline=record.headline,
        headline_slug=record.headline_slug,
        ednote=record.ednote,
        paragraphs=paragraph_texts(record),
        quotes=[
            SnapshotQuote(
                text=q.text,
                speaker=q.speaker,
                speaker_key=key,
                speaker_entity_id=q.speaker_entity_id,
                kind=q.kind,
                paragraph=q.paragraph,
            )
            for q, key in zip(record.quotes, quote_keys, strict=True)
        ],
        entities=[
            SnapshotEntity(
                id=e.id,
                name=e.name,
                label=e.label,
                paragraphs=sorted(
                    {max(0, bisect.bisect_right(starts, m.start) - 1) for m in e.mentions if m.part == "body"}
                ),
                in_headline=e.in_headline,
            )
            for e in record.entities
        ],
        notes=notes_of(record),
        changes=record.changes,
        quote_status=list(quote_status),
        retractions=list(retractions),
    )


def expired(
    stories: Iterable[tuple[str, Any]], now: float, *, retention_s: float = STORY_RETENTION_S
) -> list[str]:
    """The uris whose snapshot is older than ``retention_s`` at ``now``, from ``(uri, snapshot)`` pairs
    (a ``StorySnapshot`` or its JSON dict, as a table holds it). Pure: the caller deletes them, from a timer
    in the worker that owns the table (e.g. once a minute over ``table.items()``)."""
    out = []
    for uri, story in stories:
        saved = story.saved_at if isinstance(story, StorySnapshot) else (story or {}).get("saved_at")
        if saved is None or now - float(saved) >= retention_s:
            out.append(uri)
    return out
