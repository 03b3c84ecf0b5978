"""Runs the stages in order: raw message in, exactly one outcome out.

Everything here is synchronous and knows nothing of Faust: the worker (``app.py``) and the offline
command (``wirepipe enrich``) call the same functions, so quality measured offline is the quality
of the stream. The NLP step itself (``Enricher``, ``NlpResult``) lives in ``pipeline.enricher`` and is
re-exported here.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard, overload

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.enricher import Enricher, NlpResult, timed
from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.models import CleanArticle
from pipeline.settings import Settings
from pipeline.stages.changes import StorySnapshot, StoryUpdate, track
from pipeline.stages.clean import clean
from pipeline.stages.dedup import DedupKey, dedup, dedup_key, forget
from pipeline.stages.versions import Action, check_version
from schemas.ninjs import RawArticle
from schemas.records import DeadLetter, DuplicateVerdict, EnrichedArticle, Entity, Quote

__all__ = [
    "HEADER_END",
    "Enricher",
    "Envelope",
    "Finished",
    "Limits",
    "NlpResult",
    "OfflinePipeline",
    "Source",
    "article_outcome",
    "check_duplicate",
    "dead_letter",
    "decode",
    "finish",
    "ingest",
    "internal_error",
    "is_duplicate",
    "is_retraction",
    "judge_duplicate",
    "limits_from",
    "status_outcome",
    "timed",
]


@dataclass(frozen=True)
class Limits:
    """Input limits, from settings; plain values so stages stay free of the settings object."""

    max_message_bytes: int = 8_000_000
    max_body_bytes: int = 2_000_000
    max_html_depth: int = 1024
    max_html_attributes: int = 1_000
    max_paragraphs: int = 2_000
    near_dup_threshold: float = 0.8
    retention_s: float = 7 * 86_400.0


def limits_from(settings: Settings) -> Limits:
    """Plain limit values for the stages, read from settings once."""
    return Limits(
        max_message_bytes=settings.max_message_bytes,
        max_body_bytes=settings.max_body_bytes,
        max_html_depth=settings.max_html_depth,
        max_html_attributes=settings.max_html_attributes,
        max_paragraphs=settings.max_paragraphs,
        near_dup_threshold=settings.near_dup_threshold,
        retention_s=settings.dedup_retention_days * 86_400,
    )


@dataclass(frozen=True)
class Source:
    """Where a message came from; carried into dead letters so it can be found and replayed."""

    value: bytes | None
    key: bytes | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def decode(value: bytes | None, *, max_message_bytes: int) -> RawArticle:
    """Bytes to a validated ``RawArticle``; every failure is a coded ``StageError``."""
    if value is None:
        raise StageError(ErrorCode.E_DECODE_JSON, Stage.DECODE, "message has no value (a tombstone?)")
    if len(value) > max_message_bytes:
        raise StageError(
            ErrorCode.E_TOO_LARGE, Stage.DECODE, f"message is {len(value)} bytes, limit {max_message_bytes}"
        )
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8: {exc.reason} at byte {exc.start}"
        raise StageError(ErrorCode.E_DECODE_UTF8, Stage.DECODE, message) from None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise StageError(ErrorCode.E_DECODE_JSON, Stage.DECODE, f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise StageError(
            ErrorCode.E_DECODE_JSON, Stage.DECODE, f"JSON is a {type(data).__name__}, not an object"
        )
    try:
        return RawArticle.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'item'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise StageError(ErrorCode.E_VALIDATE, Stage.VALIDATE, problems, article_id=_named(data)) from None


def _named(data: dict[str, Any]) -> str | None:
    """The uri an invalid item still names (``uri``, else ``guid``), when it is a usable one."""
    for key in ("uri", "guid"):
        value = data.get(key)
        if isinstance(value, str) and 0 < len(value.strip()) <= 2048:
            return value
    return None


def dead_letter(error: StageError, source: Source, article_id: str | None = None) -> DeadLetter:
    """The dead-letter record for a failed message: the original bytes and where they came from, and
    the article it names (``article_id``, else the error's), by which the publisher keys it."""
    article_id = article_id or error.article_id
    return DeadLetter(
        error_code=error.code.value,
        stage=error.stage.value,
        message=error.message[:2000],
        original_b64=base64.b64encode(source.value or b"").decode("ascii"),
        key_b64=base64.b64encode(source.key).decode("ascii") if source.key is not None else None,
        topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        article_id=article_id,
        failed_at=_now(),
    )


def internal_error(exc: Exception, stage: Stage) -> StageError:
    """An unexpected exception kept as data (``E_INTERNAL``): a bug to fix, never a stopped partition."""
    return StageError(ErrorCode.E_INTERNAL, stage, f"{type(exc).__name__}: {exc}")


class Envelope(BaseModel):
    """An article between the worker's steps (ingest -> dedup -> nlp).

    On the internal topics it travels as ``to_wire`` bytes: a small JSON header, then the article's JSON,
    which the dedup step passes on without parsing (``pipeline.wire.WireEnvelope``). The original message
    stays behind: ``original`` is kept in memory only (``wirepipe enrich``), and the worker reads a dead
    letter's original back from the raw topic at ``source_topic``/``source_partition``/``source_offset``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Action
    raw_pubstatus: str
    versioncreated: str | None = None
    embargoed: str | None = None
    # Left out of the wire header when None: a worker of the previous release refuses unknown fields.
    ednote: str | None = Field(default=None, exclude_if=lambda note: note is None)
    article: CleanArticle
    key: str | None = None  # DedupKey.to_json(), until the dedup step has used it
    verdict: DuplicateVerdict | None = None
    timings_ms: dict[str, float]
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    original: bytes | None = Field(default=None, exclude=True, repr=False)

    def source(self) -> Source:
        """The original message, for a dead letter raised after ingest (its value is None when the
        envelope came over the wire: the caller reads it back from the raw topic)."""
        return Source(
            value=self.original,
            key=self.article.uri.encode(),
            topic=self.source_topic,
            partition=self.source_partition,
            offset=self.source_offset,
        )

    def to_wire(self) -> bytes:
        """Header line (every field but the article, plus the uri), then the article's JSON."""
        header = self.model_dump(mode="json", exclude={"article"})
        header["uri"] = self.article.uri
        return orjson.dumps(header) + HEADER_END + self.article.model_dump_json().encode()


HEADER_END = b"\n"  # JSON text never holds a raw newline: the first one ends the header (pipeline/wire.py)


def status_outcome(raw: RawArticle, action: Action, reason: str) -> EnrichedArticle:
    """The outcome of a kill, a hold or a stale version: identity and status, no enrichment."""
    return EnrichedArticle(
        outcome=action.value,
        id=raw.uri,
        version=raw.version,
        pubstatus=raw.pubstatus,
        headline=raw.headline,
        byline=raw.byline,
        versioncreated=raw.versioncreated,
        embargoed=raw.embargoed,
        ednote=raw.ednote,
        reason=reason,
        processed_at=_now(),
    )


def ingest(source: Source, versions: MutableMapping[str, Any], limits: Limits) -> EnrichedArticle | Envelope:
    """Decode, check the version, clean and hash: a finished outcome, or an envelope for dedup.

    ``versions`` is the per-uri state (a dict, or the worker's table keyed by uri).
    Raises ``StageError`` for any message that must be dead-lettered.
    """
    timings: dict[str, float] = {}
    raw = timed(timings, "decode", lambda: decode(source.value, max_message_bytes=limits.max_message_bytes))
    try:
        return _ingest_article(raw, source, versions, limits, timings)
    except StageError as exc:
        exc.article_id = exc.article_id or raw.uri
        raise
    except Exception as exc:  # a bug is still a dead letter about this article
        error = internal_error(exc, Stage.CLEAN)
        error.article_id = raw.uri
        raise error from exc


def _ingest_article(
    raw: RawArticle,
    source: Source,
    versions: MutableMapping[str, Any],
    limits: Limits,
    timings: dict[str, float],
) -> EnrichedArticle | Envelope:
    entry, action = check_version(versions.get(raw.uri), raw)
    versions[raw.uri] = dict(entry)
    if action is Action.STALE:
        return status_outcome(raw, action, f"version {raw.version} is older than {entry['version']}")
    if action is Action.WITHDRAW:
        return status_outcome(raw, action, "pubstatus canceled: story withdrawn")
    if action is Action.WITHHOLD:
        return status_outcome(raw, action, "pubstatus withheld: held until a usable version")
    article = timed(
        timings,
        "clean",
        lambda: clean(
            raw,
            max_body_bytes=limits.max_body_bytes,
            max_html_depth=limits.max_html_depth,
            max_html_attributes=limits.max_html_attributes,
            max_paragraphs=limits.max_paragraphs,
        ),
    )
    key = timed(timings, "hash", lambda: dedup_key(article))
    return Envelope(
        action=action,
        raw_pubstatus=raw.pubstatus,
        versioncreated=raw.versioncreated,
        embargoed=raw.embargoed,
        ednote=raw.ednote,
        article=article,
        key=key.to_json(),
        timings_ms=timings,
        original=source.value,
        source_topic=source.topic,
        source_partition=source.partition,
        source_offset=source.offset,
    )


def is_retraction(step: EnrichedArticle | Envelope) -> TypeGuard[EnrichedArticle]:
    """A withdrawn or withheld story leaves the dedup index and its quotes are retracted."""
    return isinstance(step, EnrichedArticle) and step.outcome in ("withdrawn", "withheld")


def check_duplicate(envelope: Envelope, store: MutableMapping[str, Any], limits: Limits) -> Envelope:
    """Look the article up in the dedup index (and add it); the verdict rides on in the envelope."""
    if envelope.key is None:
        raise ValueError(f"the envelope of {envelope.article.uri} has no dedup key")
    verdict, timings = judge_duplicate(envelope.key, envelope.timings_ms, store, limits)
    return envelope.model_copy(update={"verdict": verdict, "timings_ms": timings})


def judge_duplicate(
    key: str, timings_ms: dict[str, float], store: MutableMapping[str, Any], limits: Limits
) -> tuple[DuplicateVerdict, dict[str, float]]:
    timings = dict(timings_ms)
    verdict = timed(
        timings,
        "dedup",
        lambda: dedup(
            store,
            DedupKey.from_json(key),
            now=time.time(),
            threshold=limits.near_dup_threshold,
            retention_s=limits.retention_s,
        ),
    )
    return verdict, timings


def is_duplicate(envelope: Envelope) -> bool:
    """True when another article already carries this content (exact or near copy)."""
    return envelope.verdict is not None and envelope.verdict.status != "unique"


def article_outcome(
    envelope: Envelope,
    entities: Sequence[Entity] = (),
    quotes: Sequence[Quote] = (),
    reason: str | None = None,
) -> EnrichedArticle:
    """The published record for an article that went through cleaning (and NLP unless a duplicate)."""
    a = envelope.article
    outcome = "duplicate" if is_duplicate(envelope) else envelope.action.value
    return EnrichedArticle(
        outcome=outcome,
        id=a.uri,
        version=a.version,
        pubstatus=envelope.raw_pubstatus,
        headline=a.headline,
        headline_slug=a.headline_slug,
        ednote=envelope.ednote,
        byline=a.byline,
        dateline=a.dateline,
        body=a.body,
        paragraphs=a.paragraphs,
        removed=a.removed,
        language=a.language,
        flash=a.flash,
        entities=list(entities),
        quotes=list(quotes),
        duplicate=envelope.verdict or DuplicateVerdict(),
        versioncreated=envelope.versioncreated,
        embargoed=envelope.embargoed,
        reason=reason,
        timings_ms=envelope.timings_ms,
        processed_at=_now(),
    )


@dataclass(frozen=True)
class Finished:
    """One article after NLP: its outcome, and for a published version what its story's state becomes
    (``story``: the record with its ``changes``, the snapshot to keep for the uri, the quotes' fates).
    ``story`` is None for a dead letter: the story's snapshot stays as it was."""

    outcome: EnrichedArticle | DeadLetter
    story: StoryUpdate | None = None


@overload
def finish(envelopes: Sequence[Envelope], enricher: Enricher) -> list[EnrichedArticle | DeadLetter]: ...


@overload
def finish(
    envelopes: Sequence[Envelope],
    enricher: Enricher,
    previous: Sequence[StorySnapshot | None],
    *,
    now: float | None = None,
) -> list[Finished]: ...


def finish(
    envelopes: Sequence[Envelope],
    enricher: Enricher,
    previous: Sequence[StorySnapshot | None] | None = None,
    *,
    now: float | None = None,
) -> list[EnrichedArticle | DeadLetter] | list[Finished]:
    """NLP over a batch of unique articles, then their outcomes (or dead letters), in order.

    With ``previous`` (the snapshot kept for each article's uri, or None), each published version is also
    compared with its story's last version (``pipeline.stages.changes.track``) and comes back as a
    ``Finished``: the record with its ``changes`` and the snapshot to keep. Two versions of one story in
    the batch are compared in order: the second with the first.
    """
    results = enricher([e.article for e in envelopes])
    outcomes: list[EnrichedArticle | DeadLetter] = []
    for envelope, result in zip(envelopes, results, strict=True):
        if result.error is not None:
            outcomes.append(dead_letter(result.error, envelope.source(), envelope.article.uri))
            continue
        enriched = envelope.model_copy(update={"timings_ms": {**envelope.timings_ms, **result.timings_ms}})
        outcomes.append(article_outcome(enriched, result.entities, result.quotes, result.skipped))
    if previous is None:
        return outcomes
    return _track_stories(outcomes, previous, time.time() if now is None else now)


def _track_stories(
    outcomes: Sequence[EnrichedArticle | DeadLetter], previous: Sequence[StorySnapshot | None], now: float
) -> list[Finished]:
    if len(previous) != len(outcomes):
        raise ValueError(f"{len(previous)} previous snapshots for {len(outcomes)} articles")
    latest: dict[str, StorySnapshot | None] = {}  # stories this batch already advanced
    finished: list[Finished] = []
    for outcome, before in zip(outcomes, previous, strict=True):
        if isinstance(outcome, DeadLetter):
            finished.append(Finished(outcome))
            continue
        started = time.perf_counter()
        update = track(latest.get(outcome.id, before), outcome, now)
        latest[outcome.id] = update.snapshot
        record = update.record.model_copy(
            update={"timings_ms": {**update.record.timings_ms, "changes": _ms_since(started)}}
        )
        finished.append(
            Finished(record, StoryUpdate(record, update.snapshot, update.quote_status, update.retractions))
        )
    return finished


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


@dataclass
class OfflinePipeline:
    """The whole pipeline in one process with in-memory state: ``wirepipe enrich`` and the evals."""

    enricher: Enricher
    limits: Limits = field(default_factory=Limits)
    versions: dict[str, Any] = field(default_factory=dict)
    dedup_store: dict[str, Any] = field(default_factory=dict)
    #: The last published version of each story (what the next version's ``changes`` are measured against).
    stories: dict[str, StorySnapshot] = field(default_factory=dict)
    #: False for measuring quality on labelled sets, where two similar texts are two separate test items.
    dedup: bool = True

    def run(self, values: Iterable[bytes], batch_size: int = 16) -> Iterator[EnrichedArticle | DeadLetter]:
        """One outcome per input value, in input order (NLP runs per batch of unique articles)."""
        pending: list[EnrichedArticle | DeadLetter | Envelope] = []
        for offset, value in enumerate(values):
            pending.append(self._prepare(Source(value=value, topic="stdin", offset=offset)))
            if sum(isinstance(p, Envelope) for p in pending) >= batch_size:
                yield from self._flush(pending)
                pending = []
        yield from self._flush(pending)

    def _prepare(self, source: Source) -> EnrichedArticle | DeadLetter | Envelope:
        try:
            step = ingest(source, self.versions, self.limits)
            if is_retraction(step):
                forget(self.dedup_store, step.id)
            if isinstance(step, Envelope) and self.dedup:
                step = check_duplicate(step, self.dedup_store, self.limits)
                if is_duplicate(step):
                    return article_outcome(step)
            return step
        except StageError as exc:
            return dead_letter(exc, source)
        except Exception as exc:  # a bug must become data, not a stopped run
            return dead_letter(internal_error(exc, Stage.CLEAN), source)

    def _flush(
        self, pending: list[EnrichedArticle | DeadLetter | Envelope]
    ) -> Iterator[EnrichedArticle | DeadLetter]:
        # As the worker's nlp step: snapshots as they stand before the batch go in, the batch's new ones
        # are kept (and a withdrawn story's dropped) in message order.
        envelopes = [p for p in pending if isinstance(p, Envelope)]
        previous = [self.stories.get(e.article.uri) for e in envelopes]
        finished = iter(finish(envelopes, self.enricher, previous)) if envelopes else iter(())
        for item in pending:
            if not isinstance(item, Envelope):
                if isinstance(item, EnrichedArticle) and is_retraction(item):
                    self.stories.pop(item.id, None)
                yield item
                continue
            done = next(finished)
            if done.story is not None:
                self.stories[done.story.snapshot.uri] = done.story.snapshot
            yield done.outcome
