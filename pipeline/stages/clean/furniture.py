"""Page furniture removal: which paragraphs of a scraped or extracted body are not the story.

Rules go by position (a head zone before the first story paragraph, a tail after a furniture heading in
the back half), by shape (length, sentence punctuation, letter case) and by stop-phrase lists kept as
data in ``pipeline/data/clean_furniture.toml``. A story paragraph is never judged by its words alone:
phrase rules only fire on short paragraphs or in the zones where furniture lives.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from pipeline.stages.clean.dateline import split_dateline

# Sentence-final punctuation, optionally followed by closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?…:;。！？][\"'”’»)\]」』]*$|[\"”’»」』]$")
_WORD = re.compile(r"\w+")
_URL_ONLY = re.compile(r"^(?:https?://|www\.)\S+$", re.IGNORECASE)
_READ_TIME = re.compile(r"\b\d+\s*(?:-\s*)?min(?:ute)?s?\.?\s+(?:read|watch|listen)\b", re.IGNORECASE)
_CREDIT_END = re.compile(
    r"[(\[]\s*(?:photo|picture|image|pic|credit|file|video|graphic)s?\b[^()\[\]]{0,80}[)\]]\s*$",
    re.IGNORECASE,
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# A line that is only a date/time stamp ("Jan. 29, 2024 • 4 min read", "Updated 10:32 GMT").
_DATE_LINE = re.compile(
    rf"^(?:(?:updated|published|posted|last updated|first published)\s*:?\s*)?"
    rf"(?:\w+day,?\s+)?(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s*\d{{4}}|\d{{1,2}}\s+{_MONTH},?\s*\d{{4}}"
    rf"|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})",
    re.IGNORECASE,
)
_BY = re.compile(r"^by\s+(.+)$", re.IGNORECASE)
_NAME_TOKEN = re.compile(r"^(?:[A-Z][\w'’\-]*\.?|[A-Z]\.|de|da|van|von|al|bin|la|le|der|den|and|&)$")


@dataclass(frozen=True)
class _Phrases:
    labels: frozenset[str]
    short_prefixes: tuple[str, ...]
    caption_prefixes: tuple[str, ...]
    promo_phrases: tuple[str, ...]
    tail_markers: frozenset[str]
    agency_signoffs: frozenset[str]
    correction_notes: tuple[str, ...]
    editor_notes: tuple[str, ...]


@lru_cache(maxsize=1)
def _phrases() -> _Phrases:
    raw = tomllib.loads(resources.files("pipeline").joinpath("data/clean_furniture.toml").read_text("utf-8"))
    return _Phrases(
        labels=frozenset(word_key(x) for x in raw["labels"]),
        short_prefixes=tuple(x.lower() for x in raw["short_prefixes"]),
        caption_prefixes=tuple(x.lower() for x in raw["caption_prefixes"]),
        promo_phrases=tuple(x.lower() for x in raw["promo_phrases"]),
        tail_markers=frozenset(word_key(x) for x in raw["tail_markers"]),
        agency_signoffs=frozenset(word_key(x) for x in raw["agency_signoffs"]),
        correction_notes=tuple(x.lower() for x in raw["correction_notes"]),
        editor_notes=tuple(x.lower() for x in raw["editor_notes"]),
    )


def word_key(text: str) -> str:
    """Lower-case words only, so "Share this article:" and "SHARE THIS ARTICLE" compare equal."""
    return " ".join(_WORD.findall(text.lower()))


def word_count(text: str) -> int:
    """Number of \\w+ words."""
    return len(_WORD.findall(text))


def size(text: str) -> int:
    """Length in words, or in characters / 6 for scripts written without spaces (a CJK run is one \\w+)."""
    return max(word_count(text), len(text) // 6)


def is_sentence(text: str) -> bool:
    """Ends like a sentence (full stop, question, exclamation, closing quote...)."""
    return _SENTENCE_END.search(text) is not None


def is_story(text: str) -> bool:
    """Looks like a paragraph of running text: a sentence of eight words or more, not all in capitals."""
    return size(text) >= 8 and is_sentence(text) and not in_capitals(text)


def _is_short(text: str) -> bool:
    return size(text) <= 12 and not is_sentence(text)


#: A desk's note that the story was corrected: "(Corrects paragraph 3 to show ...)", or an editor's note that
#: tells of a correction. Other editor's notes (an update, a disclaimer) stay: publishers count them as story.
CORRECTION_NOTE = "correction note"
# Desk notes are a line or two; a longer paragraph opening with the same words is story text.
_NOTE_MAX_WORDS = 60
_CORRECTS = re.compile(r"\bcorrect|\bclarif", re.IGNORECASE)


def furniture_reason(text: str, *, in_head: bool = False) -> str | None:
    """Why ``text`` is furniture, or None: labels, captions, photo credits, read-time stamps, bare URLs, promo
    sentences in short paragraphs, agency sign-offs, correction notes; and date stamps
    ``in_head`` (the zone before the story: further down, a line of dates is a timeline or a schedule)."""
    ph = _phrases()
    key = word_key(text)
    low = text.lower()
    if not key or key in ph.labels:
        return "label"
    if size(text) <= _NOTE_MAX_WORDS and (
        low.startswith(ph.correction_notes) or (low.startswith(ph.editor_notes) and _CORRECTS.search(text))
    ):
        return CORRECTION_NOTE
    if key in ph.agency_signoffs:
        return "agency sign-off"
    if _URL_ONLY.match(text):
        return "url"
    if low.startswith(ph.caption_prefixes):
        return "caption"
    if _CREDIT_END.search(text):
        return "credit"
    n_words = size(text)
    if _is_short(text) and (low.startswith(ph.short_prefixes) or _READ_TIME.search(text)):
        return "label"
    if in_head and n_words <= 15 and _DATE_LINE.match(text) and not is_sentence(text):
        return "date stamp"
    if n_words <= 30 and any(p in low for p in ph.promo_phrases):
        return "promotion"
    # A line in capitals inside mixed-case text is not cut: measured on two page benchmarks and the wire
    # corpus, such lines were mostly section heads and table titles (eval/clean_cv.py).
    return None


def in_capitals(text: str) -> bool:
    """Written in capitals: upper-case letters and no lower-case ones."""
    return any(c.isupper() for c in text) and not any(c.islower() for c in text)


def byline_of(text: str) -> str | None:
    """The name in a byline paragraph ("By Jane Doe", "Jane Doe and John Roe"), or None."""
    if is_sentence(text) and not text.endswith("."):
        return None
    m = _BY.match(text)
    candidate = (m.group(1) if m else text).strip().rstrip(".").strip()
    tokens = candidate.replace(",", " ").split()
    if not 2 <= len(tokens) <= 8 or (not m and len(tokens) > 4):
        return None
    if all(_NAME_TOKEN.match(t) for t in tokens) and tokens[0][0].isupper():
        return candidate
    return None


#: Fates of a paragraph besides being kept or cut: the headline repeated, or the byline.
HEADLINE = "headline"
BYLINE = "byline"
#: A byline-shaped line when the item already has its byline.
SECOND_BYLINE = "second byline"
#: Cut before the first story paragraph for being short (names, labels, section titles).
HEAD_SHORT_LINE = "short line before the story"


@dataclass
class Sorted:
    """What became of each paragraph (``fates[i]`` is None when kept, else why it left the body), and
    the byline."""

    fates: list[str | None] = field(default_factory=list)
    byline: str | None = None


def remove_furniture(paragraphs: list[str], *, headline: str | None, byline: str | None) -> Sorted:
    """Sort out furniture paragraphs: the fate of each, and a byline found in the text, if any."""
    out = Sorted(fates=[None] * len(paragraphs), byline=byline)
    if not paragraphs:
        return out
    headline_key = word_key(headline) if headline else ""

    # Head zone: what comes before the first story paragraph (or the first dated one). Without any story
    # paragraph there is no head zone to speak of (a table of figures), so short lines are not cut there.
    first_story = next((i for i, p in enumerate(paragraphs) if is_story(p) or split_dateline(p)), None)
    head_end = len(paragraphs) if first_story is None else first_story
    body_start = head_end
    for i, para in enumerate(paragraphs[:head_end]):
        key = word_key(para)
        if headline_key and key == headline_key:
            out.fates[i] = HEADLINE
            continue
        found = byline_of(para)
        if found and out.byline is None:
            out.byline = found
            out.fates[i] = BYLINE
            continue
        if found:
            out.fates[i] = SECOND_BYLINE
            continue
        reason = furniture_reason(para, in_head=True)
        if reason is not None:
            out.fates[i] = reason
            continue
        # Short lines before the story are labels and names; with digits they may be figures, so they stay.
        if first_story is not None and _is_short(para) and not any(c.isdigit() for c in para):
            out.fates[i] = HEAD_SHORT_LINE
            continue
        # Text that is neither story-shaped nor furniture (a long subtitle, a standfirst without a full
        # stop) stays: losing story text is worse than keeping a subtitle.
        body_start = i
        break

    body = list(range(body_start, len(paragraphs)))
    # Tail: a furniture heading in the back half, after some story, opens a block of furniture (related
    # links, an author box) that runs until story text comes back (a related block holds headlines and
    # teasers, not running paragraphs) or the page ends.
    first_told = next((n for n, i in enumerate(body) if is_story(paragraphs[i])), len(body))
    in_block = False
    kept: list[int] = []
    for n, i in enumerate(body):
        para = paragraphs[i]
        if n >= max(len(body) // 2, first_told + 1) and _is_short(para) and _is_tail_marker(para):
            in_block = True
            if out.byline is None:
                out.byline = _author_in([para])
        elif in_block and is_story(para):
            in_block = False
        if in_block:
            out.fates[i] = "block after a furniture heading"
        else:
            kept.append(i)
    body = kept

    name_key = word_key(out.byline) if out.byline else ""
    for n, i in enumerate(body):
        para = paragraphs[i]
        if headline_key and n < 3 and word_key(para) == headline_key:
            out.fates[i] = HEADLINE
            continue
        reason = furniture_reason(para)
        if reason is not None:
            out.fates[i] = reason
            continue
        # An author bio at the very end starts with the byline's name ("Jane Doe is a reporter ...").
        if name_key and n >= len(body) - 2 and word_key(para).startswith(name_key + " ") and n > 0:
            out.fates[i] = "author bio"
    return out


_AUTHOR_HEADINGS = ("author ", "about the author")


def _is_tail_marker(para: str) -> bool:
    key = word_key(para)
    return key in _phrases().tail_markers or key.startswith(_AUTHOR_HEADINGS)


def _author_in(block: list[str]) -> str | None:
    for para in block:
        key = word_key(para)
        if key.startswith("author ") and _is_short(para):
            return byline_of(para.split(None, 1)[1])
    return None
