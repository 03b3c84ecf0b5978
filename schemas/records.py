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
QuoteStatus = Literal["added", "unchanged", "reattributed", "retracted"]
WordOp = Literal["replace", "delete", "insert"]


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


class HeadlineChange(_Frozen):
    """The headline of the previous version and of this one, when they differ."""

    old: str | None = Field(description="the previous version's headline")
    new: str | None = Field(description="this version's headline")


class ParagraphChange(_Frozen):
    """A paragraph that only one of the two versions has."""

    index: int = Field(
        ge=0, description="its index in this version's paragraphs (added) or the previous version's (removed)"
    )
    text: str = Field(description="the paragraph's text")


class WordChange(_Frozen):
    """One run of words that differs between the old and the new text of an edited paragraph."""

    op: WordOp = Field(
        description="'replace' (old words became new ones), 'delete' (old words gone), 'insert'"
    )
    old: str = Field(default="", description="the previous version's words ('' for an insert)")
    new: str = Field(default="", description="this version's words ('' for a delete)")


class ParagraphEdit(_Frozen):
    """A paragraph of the previous version that this version rewrites, aligned to it by similarity.

    Usually one paragraph to one; when the editor split or merged paragraphs, ``old_count`` and
    ``new_count`` say how many consecutive paragraphs from ``old_index`` and ``new_index`` the edit
    spans, and the word changes are over their joined text."""

    old_index: int = Field(ge=0, description="index of the (first) paragraph in the previous version")
    new_index: int = Field(ge=0, description="index of the (first) paragraph in this version")
    old_count: int = Field(default=1, ge=1, description="consecutive paragraphs of the previous version")
    new_count: int = Field(default=1, ge=1, description="consecutive paragraphs of this version")
    similarity: float = Field(ge=0, le=1, description="share of words the old and new text have in common")
    words: list[WordChange] = Field(description="the word-level differences, in text order")


class NumberChange(_Frozen):
    """A number that an edited paragraph changed ("killed 12" -> "killed 15"), as written."""

    old: str = Field(description="the number in the previous version, as written ('1,200', '3.5', '12%')")
    new: str = Field(description="the number in this version, as written")
    before: str = Field(
        default="", description="the words just before it that both versions share, for context"
    )
    after: str = Field(default="", description="the word just after it (a unit such as 'pct' or 'people')")
    paragraph: int = Field(ge=0, description="index of the edited paragraph in this version")


class QuoteChange(_Frozen):
    """A quote that only one of the two versions has."""

    index: int = Field(
        ge=0, description="the quote's index in this version (added) or in the previous version (removed)"
    )
    text: str = Field(description="the quote's text")
    speaker: str | None = Field(default=None, description="who it is attributed to, as written")
    speaker_key: str = Field(description="the key it is (or was) published under on the quotes topic")


class QuoteReattribution(_Frozen):
    """A quote both versions have (the same words) but attributed to another speaker."""

    old_index: int = Field(ge=0, description="the quote's index in the previous version")
    new_index: int = Field(ge=0, description="the quote's index in this version")
    text: str = Field(description="the quote's text in this version")
    old_speaker: str | None = Field(default=None, description="the speaker in the previous version")
    new_speaker: str | None = Field(default=None, description="the speaker in this version")
    old_speaker_key: str = Field(description="the quotes-topic key of the previous attribution")
    new_speaker_key: str = Field(description="the quotes-topic key of this attribution")


class EntityChange(_Frozen):
    """An entity that only one of the two versions mentions."""

    id: str = Field(description="the entity's canonical id, e.g. 'PERSON:joe-biden'")
    name: str = Field(description="its canonical name in the version that mentions it")
    label: str = Field(description="spaCy label: PERSON, ORG, GPE, ...")


class Changes(_Frozen):
    """What an ``update`` changed against the version of the story this pipeline last published.

    Present only on ``update`` records when that version is still known (kept for a bounded time, see
    docs/consumers.md). Empty lists mean "nothing of that kind changed"; ``summary`` says it in one line.
    """

    previous_version: int = Field(description="the version these changes are measured against")
    summary: str = Field(
        description="one readable line, e.g. '+2 paragraphs, 1 quote removed, death toll 12 -> 15'"
    )
    correction: list[str] = Field(
        default_factory=list,
        description="why this version is flagged as a correction (pubstatus, a CORRECTED headline slug, an "
        "ednote or a correction note); empty when it is not one",
    )
    headline: HeadlineChange | None = Field(default=None, description="set when the headline changed")
    paragraphs_added: list[ParagraphChange] = Field(
        default_factory=list, description="paragraphs new in this version"
    )
    paragraphs_removed: list[ParagraphChange] = Field(
        default_factory=list, description="paragraphs of the previous version this one no longer has"
    )
    paragraphs_edited: list[ParagraphEdit] = Field(
        default_factory=list, description="paragraphs rewritten, each aligned to the paragraph it replaces"
    )
    numbers: list[NumberChange] = Field(
        default_factory=list, description="numbers changed within edited paragraphs, in text order"
    )
    quotes_added: list[QuoteChange] = Field(default_factory=list, description="quotes new in this version")
    quotes_removed: list[QuoteChange] = Field(
        default_factory=list, description="quotes of the previous version this one no longer has"
    )
    quotes_reattributed: list[QuoteReattribution] = Field(
        default_factory=list, description="quotes kept with the same words but another speaker"
    )
    entities_added: list[EntityChange] = Field(
        default_factory=list, description="entities this version mentions and the previous one did not"
    )
    entities_removed: list[EntityChange] = Field(
        default_factory=list, description="entities the previous version mentioned and this one does not"
    )


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
    flash: bool = Field(
        default=False,
        description=(
            "true when the item is a flash, the first alert of a breaking story: its body only repeated the"
            " headline (wire slugs such as FLASH or URGENT aside), so the body is that one line and the"
            " first take follows as an 'update' under the same id"
        ),
    )
    entities: list[Entity] = Field(default_factory=list)
    quotes: list[Quote] = Field(default_factory=list)
    duplicate: DuplicateVerdict = Field(default_factory=DuplicateVerdict)
    versioncreated: str | None = None
    embargoed: str | None = None
    reason: str | None = Field(default=None, description="why, for withdrawn/withheld/stale/skipped NLP")
    timings_ms: dict[str, float] = Field(default_factory=dict)
    processed_at: datetime
    headline_slug: str | None = Field(
        default=None,
        description="the re-send markers cut from the headline's front, as sent ('UPDATE 2-', 'CORRECTED-')",
    )
    ednote: str | None = Field(
        default=None, description="the provider's editorial note (ninjs ednote), as sent"
    )
    changes: Changes | None = Field(
        default=None,
        description="on an update: what changed against the version last published (null when that version "
        "is no longer known, and on every other outcome)",
    )


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
    status: QuoteStatus | None = Field(
        default=None,
        description="what became of the quote since the story's previous version. On a quote: 'added' (new), "
        "'unchanged' (it was there, same speaker), 'reattributed' (it was there, another speaker). On a "
        "retraction: 'retracted' (the quote is gone from the story, or the story was withdrawn), "
        "'reattributed' (it is now published under another speaker key) or 'unchanged' (same quote and "
        "speaker, now published at another index). Null on records from before this field existed.",
    )


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
