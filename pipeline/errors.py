"""One catalogue of coded errors. A stage raises ``StageError``; the shell turns it into a dead letter."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable error codes carried by dead-letter records. Never renumber or reuse a code."""

    E_DECODE_UTF8 = "E_DECODE_UTF8"  # bytes are not valid UTF-8
    E_DECODE_JSON = "E_DECODE_JSON"  # not JSON, or JSON that is not an object
    E_VALIDATE = "E_VALIDATE"  # JSON object does not fit the ninjs input model
    E_TOO_LARGE = "E_TOO_LARGE"  # message or body over the configured size limit
    E_NO_TEXT_BODY = "E_NO_TEXT_BODY"  # item has no text body (a picture, an event, ...)
    E_CLEAN_EMPTY = "E_CLEAN_EMPTY"  # nothing left after cleaning
    E_CLEAN_HOSTILE = "E_CLEAN_HOSTILE"  # markup over the depth / size / paragraph limits
    E_NLP = "E_NLP"  # the NLP stage failed on this document
    E_INTERNAL = "E_INTERNAL"  # an unexpected exception: a bug, kept as data


class Stage(StrEnum):
    """Where an error was raised."""

    DECODE = "decode"
    VALIDATE = "validate"
    CLEAN = "clean"
    DEDUP = "dedup"
    ENTITIES = "entities"
    QUOTES = "quotes"
    PUBLISH = "publish"


class StageError(Exception):
    """An expected failure of one message: it becomes a dead-letter record, never a crash.

    ``article_id`` is the uri the message names, when it got far enough to name one."""

    def __init__(self, code: ErrorCode, stage: Stage, message: str, *, article_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.stage = stage
        self.message = message
        self.article_id = article_id
