"""Whole web pages to article paragraphs: three extractors that check each other, and the page's title.

Main-content extractors mostly fail by taking too little: one block of a long article, a teaser instead of
the story. trafilatura (its default settings) is the base; trafilatura in recall mode and readability-lxml
are asked too, and one that finds at least ``LONGER`` times as many words replaces the base (in that
order, so readability is compared with the recall mode's text when that won). The figure and the choice
of extractors are measured by cross-validation over two benchmarks (``eval/clean_cv.py``); taking the
longest text, or a paragraph-by-paragraph vote, measured worse on one of them.

The page's own headline (its ``<h1>``, else ``og:title``, else ``<title>``) is returned too: extractors
often keep it as the first paragraph, and it is the article's headline, not body text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import trafilatura
from readability import Document
from selectolax.lexbor import LexborHTMLParser

from pipeline.stages.clean.html import fragment_paragraphs

#: Extractors in the order they are tried; the first is the base.
EXTRACTORS = ("trafilatura", "trafilatura_recall", "readability")
#: How many times the base's words another extractor must find to replace it.
LONGER = 1.5
#: Furniture rules not applied to what the extractors return: the extractors already drop credits and
#: related-link blocks, and on their output these rules cut article text more often than furniture
#: (each lowered one benchmark's cross-validated F1, eval/clean_cv.py). Plain text still gets them.
SPARED_ON_PAGES = frozenset({"credit", "block after a furniture heading"})

_WORD = re.compile(r"\w+")


def _trafilatura(markup: str, url: str | None, *, favor_recall: bool = False) -> list[str]:
    extracted = trafilatura.extract(
        markup,
        url=url,
        output_format="xml",
        include_comments=False,
        include_images=False,
        include_tables=True,
        favor_recall=favor_recall,
        with_metadata=False,
    )
    if not extracted:
        return []
    return fragment_paragraphs(_TEI_TAG.sub(_as_html_tag, extracted))


def _readability(markup: str, url: str | None) -> list[str]:
    try:
        summary = Document(markup, url=url).summary(html_partial=True)
    except Exception:  # readability gives up on some pages in its own ways; the others still answer
        return []
    return fragment_paragraphs(summary) if summary.strip() else []


_RUN: dict[str, Callable[[str, str | None], list[str]]] = {
    "trafilatura": _trafilatura,
    "trafilatura_recall": lambda markup, url: _trafilatura(markup, url, favor_recall=True),
    "readability": _readability,
}


def page_candidates(markup: str, url: str | None) -> dict[str, list[str]]:
    """Each extractor's paragraphs for a whole page (empty when it found no article)."""
    return {name: _RUN[name](markup, url) for name in EXTRACTORS}


def _words(paragraphs: list[str]) -> int:
    return sum(len(_WORD.findall(p)) for p in paragraphs)


def choose(candidates: Mapping[str, list[str]], *, longer: float = LONGER) -> list[str]:
    """The base extractor's paragraphs, unless a later one found ``longer`` times as many words."""
    names = [name for name in EXTRACTORS if name in candidates]
    best = candidates[names[0]]
    for name in names[1:]:
        if _words(candidates[name]) > longer * max(_words(best), 1):
            best = candidates[name]
    return best


def page_paragraphs(markup: str, url: str | None) -> list[str]:
    """Main-content paragraphs of a whole web page (comments and images left out)."""
    return choose(page_candidates(markup, url))


def page_title(markup: str) -> str | None:
    """The page's headline: its first ``<h1>``, else its ``og:title``, else its ``<title>``."""
    tree = LexborHTMLParser(markup)
    h1 = tree.css_first("h1")
    if h1 is not None and (text := " ".join(h1.text(separator=" ").split())):
        return text
    og = tree.css_first('meta[property="og:title"]')
    if og is not None and (text := " ".join((og.attributes.get("content") or "").split())):
        return text
    title = tree.css_first("title")
    if title is not None and (text := " ".join(title.text().split())):
        return text
    return None


# trafilatura's XML names, renamed to their HTML equivalents so lexbor's HTML tree rules (which would
# drop a <head> in a body and foster-parent text out of a <table> of <row>s) keep them in place.
_TEI_TO_HTML = {
    "head": "h2",
    "list": "ul",
    "item": "li",
    "quote": "blockquote",
    "row": "tr",
    "cell": "td",
    "lb": "br",
    "doc": "div",
    "main": "div",
}
_TEI_TAG = re.compile(r"<(/?)(head|list|item|quote|row|cell|lb|doc|main)\b")


def _as_html_tag(m: re.Match[str]) -> str:
    return f"<{m.group(1)}{_TEI_TO_HTML[m.group(2)]}"
