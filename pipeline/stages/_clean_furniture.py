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

from pipeline.stages._clean_dateline import split_dateline

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


@lru_cache(maxsize=1)
def _phrases() -> _Phrases:
    raw = tomllib.loads(resources.files("pipeline").joinpath("data/clean_furniture.toml").read_text("utf-8"))
    return _Phrases(
        labels=frozenset(_key(x) for x in raw["labels"]),
        short_prefixes=tuple(x.lower() for x in raw["short_prefixes"]),
        caption_prefixes=tuple(x.lower() for x in raw["caption_prefixes"]),
        promo_phrases=tuple(x.lower() for x in raw["promo_phrases"]),
        tail_markers=frozenset(_key(x) for x in raw["tail_markers"]),
        agency_signoffs=frozenset(_key(x) for x in raw["agency_signoffs"]),
    )


def _key(text: str) -> str:
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
    """Looks like a paragraph of running text: a sentence of eight words or more."""
    return size(text) >= 8 and is_sentence(text)


def _is_short(text: str) -> bool:
    return size(text) <= 12 and not is_sentence(text)


def is_furniture(text: str, *, mostly_lower: bool) -> bool:
    """Furniture wherever it appears: labels, captions, credits, read-time and date stamps, bare URLs,
    promo sentences in short paragraphs, shouted promo lines, agency sign-offs."""
    ph = _phrases()
    key = _key(text)
    low = text.lower()
    if not key or key in ph.labels or key in ph.agency_signoffs or _URL_ONLY.match(text):
        return True
    if low.startswith(ph.caption_prefixes) or _CREDIT_END.search(text):
        return True
    n_words = size(text)
    if _is_short(text) and (low.startswith(ph.short_prefixes) or _READ_TIME.search(text)):
        return True
    if n_words <= 15 and _DATE_LINE.match(text) and not is_sentence(text):
        return True
    if n_words <= 30 and any(p in low for p in ph.promo_phrases):
        return True
    # A long all-capitals line inside mixed-case text is a promo or a related headline; short ones are
    # subheads ("US FALLS") and stay, and so do capitalised table rows (they carry figures).
    return (
        mostly_lower
        and n_words >= 6
        and any(c.isupper() for c in text)
        and not any(c.islower() or c.isdigit() for c in text)
    )


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


@dataclass
class Sorted:
    """Paragraphs kept, and what the head zone told us about the article."""

    kept: list[str] = field(default_factory=list)
    byline: str | None = None
    headline_seen: bool = False


def remove_furniture(paragraphs: list[str], *, headline: str | None, byline: str | None) -> Sorted:
    """Drop furniture paragraphs; return what is left and a byline found in the text, if any."""
    ph = _phrases()
    out = Sorted(byline=byline)
    if not paragraphs:
        return out
    letters = "".join(paragraphs)
    mostly_lower = sum(c.islower() for c in letters) > sum(c.isupper() for c in letters)
    headline_key = _key(headline) if headline else ""

    # Head zone: what comes before the first story paragraph (or the first dated one). Without any story
    # paragraph there is no head zone to speak of (a table of figures), so short lines are not cut there.
    first_story = next((i for i, p in enumerate(paragraphs) if is_story(p) or split_dateline(p)), None)
    head_end = len(paragraphs) if first_story is None else first_story
    body_start = head_end
    for i, para in enumerate(paragraphs[:head_end]):
        key = _key(para)
        if headline_key and key == headline_key:
            out.headline_seen = True
            continue
        found = byline_of(para)
        if found and out.byline is None:
            out.byline = found
            continue
        if found or is_furniture(para, mostly_lower=mostly_lower):
            continue
        # Short lines before the story are labels and names; with digits they may be figures, so they stay.
        if first_story is not None and _is_short(para) and not any(c.isdigit() for c in para):
            continue
        # Text that is neither story-shaped nor furniture (a long subtitle, a standfirst without a full
        # stop) stays: losing story text is worse than keeping a subtitle.
        body_start = i
        break

    body = paragraphs[body_start:]
    # Tail: a furniture heading in the back half opens a block that runs to the end.
    cut = len(body)
    for i in range(len(body) // 2, len(body)):
        if _is_short(body[i]) and _key(body[i]) in ph.tail_markers:
            cut = i
            break
        if _is_short(body[i]) and _key(body[i]).startswith(("author ", "about the author")):
            cut = i
            break
    if cut < len(body) and out.byline is None:
        out.byline = _author_in(body[cut:])
    body = body[:cut]

    name_key = _key(out.byline) if out.byline else ""
    for i, para in enumerate(body):
        if headline_key and i < 3 and _key(para) == headline_key:
            out.headline_seen = True
            continue
        if is_furniture(para, mostly_lower=mostly_lower):
            continue
        # An author bio at the very end starts with the byline's name ("Jane Doe is a reporter ...").
        if name_key and i >= len(body) - 2 and _key(para).startswith(name_key + " ") and i > 0:
            continue
        out.kept.append(para)
    return out


def _author_in(block: list[str]) -> str | None:
    for para in block:
        key = _key(para)
        if key.startswith("author ") and _is_short(para):
            return byline_of(para.split(None, 1)[1])
    return None
