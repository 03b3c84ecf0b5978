"""Cleaning stage: a raw wire item in, a clean paragraphed body with its headline, byline and dateline out.

Three inputs: wire HTML fragments, scraped plain text (furniture and all), and whole web pages (main
content extracted first). Everything later stages see comes from here, so furniture is removed by
position, shape and stop-phrase data, and story text is kept when in doubt. Quote marks are never
changed. Pure: no Kafka, no settings, no network.
"""

from __future__ import annotations

import re
import unicodedata

import py3langid

from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.models import CleanArticle
from pipeline.stages._clean_dateline import split_dateline
from pipeline.stages._clean_furniture import is_story, remove_furniture
from pipeline.stages._clean_html import (
    fragment_paragraphs,
    is_whole_page,
    max_depth,
    most_attributes,
    page_paragraphs,
)
from pipeline.stages._clean_text import repair, text_paragraphs
from schemas.ninjs import RawArticle
from schemas.records import Dateline, Paragraph

PARAGRAPH_SEPARATOR = "\n\n"
# Paragraphs searched for a dateline: a scraped page may put a standfirst before the dated lede.
_DATELINE_WINDOW = 3
_LANGID_CHARS = 2_000


def clean(
    raw: RawArticle,
    *,
    max_body_bytes: int = 2_000_000,
    max_html_depth: int = 1024,
    max_html_attributes: int = 1_000,
    max_paragraphs: int = 2_000,
) -> CleanArticle:
    """Clean one article. Raises ``StageError`` (stage ``clean``) with E_NO_TEXT_BODY, E_TOO_LARGE,
    E_CLEAN_HOSTILE or E_CLEAN_EMPTY."""
    body = raw.body
    if body is None:
        raise StageError(ErrorCode.E_NO_TEXT_BODY, Stage.CLEAN, f"item of type {raw.type!r} has no text body")
    # UTF-8 never takes fewer bytes than characters, so the cheap length test settles most bodies.
    if len(body) > max_body_bytes or len(body.encode("utf-8", "surrogatepass")) > max_body_bytes:
        raise StageError(ErrorCode.E_TOO_LARGE, Stage.CLEAN, f"body over {max_body_bytes} bytes")

    pieces = _paragraphs(
        body, raw.body_kind, raw.url, max_html_depth=max_html_depth, max_html_attributes=max_html_attributes
    )
    if len(pieces) > max_paragraphs:
        message = f"{len(pieces)} paragraphs, over the limit {max_paragraphs}"
        raise StageError(ErrorCode.E_CLEAN_HOSTILE, Stage.CLEAN, message)
    headline = _strip_wire_slugs(repair(raw.headline)) if raw.headline else None
    byline = repair(raw.byline) if raw.byline else None
    repaired = [p for p in (repair(x) for x in pieces) if p]
    sorted_ = remove_furniture(repaired, headline=headline or None, byline=byline or None)
    paragraphs, dateline = _pull_dateline(sorted_.kept)
    if not paragraphs:
        raise StageError(ErrorCode.E_CLEAN_EMPTY, Stage.CLEAN, "nothing left after cleaning")

    text, spans = _join(paragraphs)
    return CleanArticle(
        uri=raw.uri,
        version=raw.version,
        headline=headline or None,
        byline=sorted_.byline,
        dateline=dateline,
        body=text,
        paragraphs=spans,
        language=_language(raw.language, text),
    )


# Wire desks mark a re-sent story in its headline ("UPDATE 2-", "REFILE-", "CORRECTED-", "RPT-"); the
# record says that in ``version`` and ``outcome``, so the marker is not part of the headline.
_WIRE_SLUG = re.compile(r"^(?:(?:UPDATE|WRAPUP)\s*\d+|REFILE|CORRECTED|CORRECTION|RPT)\s*[-\u2013\u2014]\s*")


def _strip_wire_slugs(headline: str) -> str:
    """The headline without leading re-send markers (stacked ones too: "REFILE-UPDATE 1-")."""
    rest = headline
    while (slug := _WIRE_SLUG.match(rest)) and rest[slug.end() :].strip():
        rest = rest[slug.end() :]
    return rest


def _paragraphs(
    body: str, kind: str, url: str | None, *, max_html_depth: int, max_html_attributes: int
) -> list[str]:
    if kind != "html":
        return text_paragraphs(body)
    most = most_attributes(body)
    if most > max_html_attributes:
        # Parsers spend super-linear time on one element with tens of thousands of attributes.
        message = f"an HTML element has {most} attributes, over the limit {max_html_attributes}"
        raise StageError(ErrorCode.E_CLEAN_HOSTILE, Stage.CLEAN, message)
    if max_depth(body, stop_at=max_html_depth) > max_html_depth:
        # No story needs hundreds of nested elements; such markup is an attack or a broken feed, and
        # tree builders (lxml, lexbor) get slow or give up on it. Refuse it with a coded error.
        message = f"HTML nested deeper than {max_html_depth} elements"
        raise StageError(ErrorCode.E_CLEAN_HOSTILE, Stage.CLEAN, message)
    if is_whole_page(body):
        found = page_paragraphs(body, url)
        # A page trafilatura finds no article in may still be a plain document: fall back to all its text.
        return found or fragment_paragraphs(body)
    return fragment_paragraphs(body)


def _pull_dateline(paragraphs: list[str]) -> tuple[list[str], Dateline | None]:
    """Remove the dateline from the first dated paragraph among the opening ones."""
    for i, para in enumerate(paragraphs[:_DATELINE_WINDOW]):
        found = split_dateline(para)
        if found is not None:
            dateline, rest = found
            return [*paragraphs[:i], rest, *paragraphs[i + 1 :]], dateline
        if is_story(para) and i >= 1:
            break
    return paragraphs, None


def _join(paragraphs: list[str]) -> tuple[str, list[Paragraph]]:
    spans: list[Paragraph] = []
    pos = 0
    for para in paragraphs:
        spans.append(Paragraph(start=pos, end=pos + len(para)))
        pos += len(para) + len(PARAGRAPH_SEPARATOR)
    return PARAGRAPH_SEPARATOR.join(paragraphs), spans


def _language(declared: str | None, text: str) -> str | None:
    """The declared language as a lower-case ISO 639-1 code, else a cheap guess from the text."""
    if declared and declared.strip():
        return unicodedata.normalize("NFC", declared).strip().lower().replace("_", "-").split("-")[0] or None
    code, _score = py3langid.classify(text[:_LANGID_CHARS])
    return str(code).lower() if code else None
