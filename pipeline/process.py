"""Runs the stages in order: raw message in, exactly one outcome out.

Everything here is synchronous and knows nothing of Faust: the worker's agents (``pipeline/stream/agents``)
and the offline command (``wirepipe enrich``, ``pipeline/offline.py``) call the same functions, so quality
measured offline is the quality of the stream. ``ingest`` decodes, checks the version, cleans and hashes;
``check_duplicate`` asks the dedup index; ``finish`` runs the NLP step (``pipeline/enricher.py``) over a
batch and compares each published version with its story's last one.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard, overload

import orjson
from pydantic import ValidationError

from pipeline.enricher import Enricher, timed
from pipeline.envelope import Envelope, Limits, Source, dead_letter, internal_error, now_utc
from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.stages.changes import StorySnapshot, StoryUpdate, track
from pipeline.stages.clean import clean
from pipeline.stages.dedup import DedupKey, dedup, dedup_key
from pipeline.stages.versions import Action, check_version
from schemas.ninjs import RawArticle
from schemas.records import DeadLetter, DuplicateVerdict, EnrichedArticle, Entity, Quote


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
        processed_at=now_utc(),
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
        processed_at=now_utc(),
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
