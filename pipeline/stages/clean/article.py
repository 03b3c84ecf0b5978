"""Cleaning stage: a raw wire item in, a clean paragraphed body with its headline, byline and dateline out.

Three inputs: wire HTML fragments, scraped plain text (furniture and all), and whole web pages (main
content extracted first). Everything later stages see comes from here, so furniture is removed by
position, shape and stop-phrase data, and story text is kept when in doubt. Nothing of the text
vanishes: what leaves the body goes to the headline (a title line when the item has no headline), the
dateline, the byline, or ``removed`` with the reason. Quote marks are never changed. Pure: no Kafka, no
settings, no network.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.models import CleanArticle
from pipeline.stages.clean.dateline import split_dateline
from pipeline.stages.clean.flash import WIRE_SLUG, Flash, find_flash, is_slug_line
from pipeline.stages.clean.furniture import (
    BYLINE,
    HEAD_SHORT_LINE,
    HEADLINE,
    SECOND_BYLINE,
    in_capitals,
    is_story,
    remove_furniture,
    size,
)
from pipeline.stages.clean.html import fragment_paragraphs, is_whole_page, scan_markup
from pipeline.stages.clean.page import SPARED_ON_PAGES, page_paragraphs, page_title
from pipeline.stages.clean.text import repair, text_paragraphs
from schemas.ninjs import RawArticle
from schemas.records import Dateline, Paragraph, RemovedText

PARAGRAPH_SEPARATOR = "\n\n"
# Paragraphs searched for a dateline: a scraped page may put a standfirst before the dated lede.
_DATELINE_WINDOW = 3
_LANGID_CHARS = 2_000
# Below this probability the guess is no guess: tables of names and figures come out as Pidgin or Croatian.
_LANGID_CONFIDENCE = 0.9
# A title line is short; a long first paragraph in capitals is an all-capitals story, not its headline.
_MAX_TITLE_WORDS = 25
# Fates of a first paragraph that make it the headline of an item that has none.
_TITLE_FATES = frozenset({HEAD_SHORT_LINE})


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

    pieces, page = _paragraphs(
        body,
        raw.body_kind,
        raw.url,
        max_html_depth=max_html_depth,
        max_html_attributes=max_html_attributes,
        max_paragraphs=max_paragraphs,
    )
    if len(pieces) > max_paragraphs:
        message = f"more than {max_paragraphs} paragraphs, over the limit"
        raise StageError(ErrorCode.E_CLEAN_HOSTILE, Stage.CLEAN, message)
    if page is None:
        return assemble(raw, pieces)
    return assemble(raw, pieces, page_headline=page.headline, spare=SPARED_ON_PAGES)


def assemble(
    raw: RawArticle,
    pieces: list[str],
    *,
    page_headline: str | None = None,
    spare: frozenset[str] = frozenset(),
) -> CleanArticle:
    """The article from the raw paragraphs of its body: repaired, furniture sorted out, the headline,
    byline and dateline pulled out, what was cut listed. ``page_headline`` is a web page's own title (the
    headline when the item has none); ``spare`` names furniture reasons not to apply, for measuring what
    each rule is worth (``eval/clean_cv.py``). Raises E_CLEAN_EMPTY when nothing is left."""
    slug, headline = _split_wire_slugs(repair(raw.headline)) if raw.headline else (None, None)
    own_headline = headline
    if not headline and page_headline:
        headline = repair(page_headline)
    byline = repair(raw.byline) if raw.byline else None
    repaired = [p for p in (repair(x) for x in pieces) if p]
    sorted_ = remove_furniture(repaired, headline=headline or None, byline=byline or None)
    fates = [None if fate in spare else fate for fate in sorted_.fates]
    if not headline:
        title = _title_line(repaired, fates)
        if title is not None:
            headline, fates[title] = repaired[title], HEADLINE
    dateline = _pull_dateline(repaired, fates)
    # Only an item's own headline is repeated by a flash: a page's title or a title line taken from the
    # body, with nothing after it, is an empty page, not an alert.
    flash = None
    if own_headline:
        flash = find_flash(repaired, fates, own_headline, dateline)
    found_byline = sorted_.byline
    if flash is not None:
        dateline, slug_was_byline = _keep_flash_line(repaired, fates, flash)
        if slug_was_byline:
            found_byline = byline or None
    kept = [i for i, fate in enumerate(fates) if fate is None]
    if not kept:
        raise StageError(ErrorCode.E_CLEAN_EMPTY, Stage.CLEAN, "nothing left after cleaning")

    text, spans = _join([repaired[i] for i in kept])
    return CleanArticle(
        uri=raw.uri,
        version=raw.version,
        headline=headline or None,
        headline_slug=slug,
        byline=found_byline,
        dateline=dateline,
        body=text,
        paragraphs=spans,
        removed=_removed(repaired, fates),
        language=_language(raw.language, text),
        flash=flash is not None,
    )


# Wire desks mark a re-sent story in its headline ("UPDATE 2-", "REFILE-", "CORRECTED-", "RPT-", older
# wires "(CORRECTED)-"); the record says that in ``version`` and ``outcome``, so the marker is not part of
# the headline: it travels on as ``headline_slug`` (a correction is flagged from it).
_WIRE_SLUG = re.compile(
    r"^(?:(?:UPDATE|WRAPUP)\s*\d+|REFILE|CORRECTED|CORRECTION|RPT|\((?:CORRECTED|REFILED)\))\s*[-\u2013\u2014]\s*"
)


def _split_wire_slugs(headline: str) -> tuple[str | None, str]:
    """The leading re-send markers (stacked ones too: "REFILE-UPDATE 1-"), as sent, and the headline
    without them."""
    rest = headline
    while (slug := _WIRE_SLUG.match(rest)) and rest[slug.end() :].strip():
        rest = rest[slug.end() :]
    cut = headline[: len(headline) - len(rest)].strip()
    return cut or None, rest


# Fates a slug line can have before the flash is seen: kept, or taken for a byline ("URGENT URGENT" is
# shaped like a name).
_SLUG_LINE_FATES = frozenset({None, BYLINE, SECOND_BYLINE})


def _keep_flash_line(
    paragraphs: list[str], fates: list[str | None], flash: Flash
) -> tuple[Dateline | None, bool]:
    """Make a flash's line the one paragraph of the body: its wire slugs, alone on a line or around the
    line, leave as ``wire slug`` (listed in ``removed`` in their place). Returns the article's dateline,
    and whether the byline found in the text was a slug line."""
    slug_was_byline = False
    for i, para in enumerate(paragraphs):
        if i != flash.index and fates[i] in _SLUG_LINE_FATES and is_slug_line(para):
            slug_was_byline = slug_was_byline or fates[i] == BYLINE
            fates[i] = WIRE_SLUG
    paragraphs[flash.index], fates[flash.index] = flash.line, None
    # The slugs around the line become paragraphs of their own, cut, so ``removed`` places them.
    if flash.trailing:
        paragraphs.insert(flash.index + 1, flash.trailing)
        fates.insert(flash.index + 1, WIRE_SLUG)
    if flash.leading:
        paragraphs.insert(flash.index, flash.leading)
        fates.insert(flash.index, WIRE_SLUG)
    return flash.dateline, slug_was_byline


@dataclass(frozen=True)
class _Page:
    headline: str | None


def _paragraphs(
    body: str,
    kind: str,
    url: str | None,
    *,
    max_html_depth: int,
    max_html_attributes: int,
    max_paragraphs: int,
) -> tuple[list[str], _Page | None]:
    """Raw paragraphs of the body, and for a whole web page, what the page says of itself. A fragment's
    walk stops once it passes ``max_paragraphs`` (the caller refuses it then)."""
    if kind != "html":
        return text_paragraphs(body), None
    depth, most = scan_markup(body, stop_depth=max_html_depth, attribute_limit=max_html_attributes)
    if most > max_html_attributes:
        # Parsers spend super-linear time on one element with tens of thousands of attributes.
        message = f"an HTML element has {most} attributes, over the limit {max_html_attributes}"
        raise StageError(ErrorCode.E_CLEAN_HOSTILE, Stage.CLEAN, message)
    if depth > max_html_depth:
        # No story needs hundreds of nested elements; such markup is an attack or a broken feed, and
        # tree builders (lxml, lexbor) get slow or give up on it. Refuse it with a coded error.
        message = f"HTML nested deeper than {max_html_depth} elements"
        raise StageError(ErrorCode.E_CLEAN_HOSTILE, Stage.CLEAN, message)
    if is_whole_page(body):
        found = page_paragraphs(body, url)
        # A page no extractor finds an article in may still be a plain document: fall back to all its text.
        return found or fragment_paragraphs(body, stop_after=max_paragraphs), _Page(page_title(body))
    return fragment_paragraphs(body, stop_after=max_paragraphs), None


def _title_line(paragraphs: list[str], fates: list[str | None]) -> int | None:
    """The paragraph that is the headline of an item sent without one: the first paragraph, when cleaning
    would cut it as a short line before the story or a shouted line, or it is in capitals, and more
    paragraphs follow."""
    if len(paragraphs) < 2 or fates[0] == BYLINE or size(paragraphs[0]) > _MAX_TITLE_WORDS:
        return None
    first = paragraphs[0]
    if fates[0] in _TITLE_FATES or (fates[0] is None and in_capitals(first)):
        return 0
    return None


_PASSED_ON = frozenset({HEADLINE, BYLINE})
_DATELINE_FATE = "dateline"


def _pull_dateline(paragraphs: list[str], fates: list[str | None]) -> Dateline | None:
    """Take the dateline from the first dated paragraph among the opening kept ones.

    A paragraph that is only a dateline leaves the body (its fate becomes ``dateline``); otherwise the
    paragraph keeps its text after the dateline, in place."""
    kept = [i for i, fate in enumerate(fates) if fate is None]
    for n, i in enumerate(kept[:_DATELINE_WINDOW]):
        found = split_dateline(paragraphs[i])
        if found is not None:
            dateline, rest = found
            if rest:
                paragraphs[i] = rest
            else:
                fates[i] = _DATELINE_FATE
            return dateline
        if is_story(paragraphs[i]) and n >= 1:
            break
    return None


def _removed(paragraphs: list[str], fates: list[str | None]) -> list[RemovedText]:
    """Every cut paragraph not published in another field, with its reason and place in the body."""
    out: list[RemovedText] = []
    kept_before = 0
    for para, fate in zip(paragraphs, fates, strict=True):
        if fate is None:
            kept_before += 1
        elif fate not in _PASSED_ON and fate != _DATELINE_FATE:
            out.append(RemovedText(text=para, reason=fate, before_paragraph=kept_before))
    return out


def _join(paragraphs: list[str]) -> tuple[str, list[Paragraph]]:
    spans: list[Paragraph] = []
    pos = 0
    for para in paragraphs:
        spans.append(Paragraph(start=pos, end=pos + len(para)))
        pos += len(para) + len(PARAGRAPH_SEPARATOR)
    return PARAGRAPH_SEPARATOR.join(paragraphs), spans


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def _language(declared: str | None, text: str) -> str | None:
    """The declared language as a lower-case ISO 639-1 code, else a guess from the text when a confident
    one can be made (None otherwise)."""
    if declared and declared.strip():
        return unicodedata.normalize("NFC", declared).strip().lower().replace("_", "-").split("-")[0] or None
    code, confidence = _identifier().classify(text[:_LANGID_CHARS])
    if not code or confidence < _LANGID_CONFIDENCE:
        return None
    return str(code).lower()
