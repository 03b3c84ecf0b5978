"""What travels between the steps: where a message came from, the envelope of a clean article, the input
limits, and the dead letter made from either.

An ``Envelope`` crosses the worker's internal topics as ``to_wire`` bytes (``pipeline/wire.py`` reads them
back); a ``DeadLetter`` carries the original message and where it was, so it can be found and replayed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.models import CleanArticle
from pipeline.settings import Settings
from pipeline.stages.versions import Action
from schemas.records import DeadLetter, DuplicateVerdict


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


def now_utc() -> datetime:
    """The time now, in UTC (every record's timestamps)."""
    return datetime.now(UTC)


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
        failed_at=now_utc(),
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
