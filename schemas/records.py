"""Output contract, version 1: the records Wirepipe publishes. Consumers read the JSON Schema exported
from these models (``make schema``). Within v1 only optional fields are added; a breaking change is v2
on new topics.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1"

Outcome = Literal["enriched", "update", "duplicate", "withdrawn", "withheld", "stale"]
QuoteKind = Literal["direct", "mixed", "indirect"]
MentionPart = Literal["headline", "dateline", "byline", "body"]
DuplicateStatus = Literal["unique", "duplicate", "near_duplicate"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Span(_Frozen):
    """Half-open character range ``[start, end)`` into the record's ``body``."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Paragraph(Span):
    """One paragraph of the clean body."""


class Dateline(_Frozen):
    """The dateline removed from the first paragraph ("WASHINGTON (Reuters) -")."""

    text: str
    place: str | None = None
    date: str | None = None
    agency: str | None = None


class Mention(Span):
    """One mention of an entity: ``[start, end)`` into the text of its ``part`` (the record's ``body``,
    ``headline``, ``byline`` or ``dateline.text``)."""

    text: str
    part: MentionPart = Field(default="body", description="which text the offsets point into")


class RemovedText(_Frozen):
    """Text of the article that cleaning took out and published in no other field, and why."""

    text: str
    reason: str = Field(description="e.g. 'label', 'caption', 'block after a furniture heading'")
    before_paragraph: int = Field(
        ge=0, description="index of the body paragraph it stood before (the paragraph count when after all)"
    )


class Entity(_Frozen):
    """A canonical entity: mentions of one thing grouped within the article."""

    id: str = Field(description="stable within the article, e.g. 'PERSON:joe-biden'")
    name: str = Field(description="the canonical (longest, most complete) name used in the article")
    label: str = Field(description="spaCy label: PERSON, ORG, GPE, LOC, NORP, ...")
    mentions: list[Mention] = Field(description="in article order: headline, dateline, byline, then body")
    count: int = Field(ge=1)
    first_start: int = Field(
        ge=0, description="start of the first body mention (of the first mention if none)"
    )
    in_headline: bool = False


class Quote(_Frozen):
    """A quote and who said it."""

    text: str
    spans: list[Span] = Field(description="content spans; a quote split by its attribution has two")
    paragraph: int = Field(ge=0)
    speaker: str | None = None
    speaker_start: int | None = None
    speaker_end: int | None = None
    speaker_entity_id: str | None = None
    verb: str | None = None
    kind: QuoteKind = "direct"
    confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="calibrated probability that the quote is right: its words an attribution of the article "
        "and its speaker the one named (or rightly none); every extracted quote has one",
    )


class DuplicateVerdict(_Frozen):
    """Whether the article's content was seen before, and as which article."""

    status: DuplicateStatus = "unique"
    duplicate_of: str | None = None
    similarity: float | None = Field(default=None, ge=0, le=1)
    fingerprint: str | None = None


class EnrichedArticle(_Frozen):
    """The outcome for one input message that is not a dead letter, keyed by ``id`` (the ninjs uri).

    ``enriched`` and ``update`` carry the whole enrichment; ``duplicate`` carries the clean text and the
    verdict (no NLP is spent on it); ``withdrawn``, ``withheld`` and ``stale`` carry identity and status.
    """

    schema_version: Literal["1"] = "1"
    outcome: Outcome
    id: str
    version: int
    pubstatus: str = "usable"
    headline: str | None = None
    byline: str | None = None
    dateline: Dateline | None = None
    body: str = ""
    paragraphs: list[Paragraph] = Field(default_factory=list)
    removed: list[RemovedText] = Field(
        default_factory=list, description="what cleaning cut from the text (page furniture), in order"
    )
    language: str | None = None
    entities: list[Entity] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)
    duplicate: DuplicateVerdict = Field(default_factory=DuplicateVerdict)
    versioncreated: str | None = None
    embargoed: str | None = None
    reason: str | None = Field(default=None, description="why, for withdrawn/withheld/stale/skipped NLP")
    timings_ms: dict[str, float] = Field(default_factory=dict)
    processed_at: datetime


class QuoteRecord(_Frozen):
    """One quote, published to the quotes topic keyed by the canonical speaker (or ``article id`` when
    the speaker is unknown). A retraction has ``retracted`` true and no quote."""

    schema_version: Literal["1"] = "1"
    article_id: str
    article_version: int
    index: int = Field(ge=0)
    speaker_key: str
    quote: Quote | None = None
    retracted: bool = False
    headline: str | None = None
    processed_at: datetime


class DeadLetter(_Frozen):
    """A message that could not be processed, with everything needed to fix and replay it."""

    schema_version: Literal["1"] = "1"
    error_code: str
    stage: str
    message: str
    original_b64: str = Field(description="the original message value, base64")
    key_b64: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    article_id: str | None = None
    failed_at: datetime
