"""Whole web pages (``pipeline/stages/clean/page.py``): which extractor's text is taken, and the page's
own title as the headline."""

from __future__ import annotations

from pipeline.stages.clean import clean
from pipeline.stages.clean.page import LONGER, SPARED_ON_PAGES, choose, page_title
from schemas.ninjs import RawArticle

STORY = (
    "The minister said on Monday that the talks would resume next week after a pause of several months. "
    "Officials from both sides are expected to attend the meeting in the capital."
)


def _words(n: int) -> list[str]:
    return [" ".join(["word"] * n)]


def test_base_extractor_is_kept_unless_another_finds_clearly_more() -> None:
    """trafilatura's text stands unless recall mode or readability finds ``LONGER`` times its words."""
    base, a_bit_more = _words(100), _words(int(100 * LONGER))
    assert choose({"trafilatura": base, "trafilatura_recall": a_bit_more, "readability": base}) is base
    much_more = _words(int(100 * LONGER) + 1)
    assert choose({"trafilatura": base, "trafilatura_recall": base, "readability": much_more}) is much_more


def test_readability_is_compared_with_the_recall_text_once_that_won() -> None:
    """Extractors are tried in order, each against the best so far."""
    base, recall, readability = _words(10), _words(100), _words(120)
    assert choose({"trafilatura": base, "trafilatura_recall": recall, "readability": readability}) is recall


def test_page_title_prefers_h1_then_og_title_then_title() -> None:
    """The page's headline is its h1, else og:title, else the title element."""
    head = '<head><title>Site | Talks</title><meta property="og:title" content="Talks resume"></head>'
    assert page_title(f"<html>{head}<body><h1> Talks  to resume </h1></body></html>") == "Talks to resume"
    assert page_title(f"<html>{head}<body><p>x</p></body></html>") == "Talks resume"
    assert page_title("<html><head><title>Site | Talks</title></head><body></body></html>") == "Site | Talks"
    assert page_title("<html><body><p>x</p></body></html>") is None


def test_a_page_h1_is_the_headline_and_not_a_body_paragraph() -> None:
    """A whole page sent without a headline gets its h1 as headline; the h1 is not repeated in the body."""
    page = (
        "<!doctype html><html><head><title>News site</title></head><body><nav>Home | World</nav>"
        f"<article><h1>Talks to resume next week</h1><p>{STORY}</p><p>{STORY}</p><p>{STORY}</p></article>"
        "</body></html>"
    )
    article = clean(RawArticle.model_validate({"uri": "urn:page:1", "html": page}))
    assert article.headline == "Talks to resume next week"
    assert "Talks to resume next week" not in article.body
    assert STORY in article.body


def test_rules_spared_on_pages_still_apply_to_plain_text() -> None:
    """A photo credit paragraph is cut from plain text (no extractor ran there)."""
    assert "credit" in SPARED_ON_PAGES
    body = f"{STORY}\n\nSoldiers patrol the border on June 7. (Photo: AFP)\n\n{STORY}"
    article = clean(RawArticle.model_validate({"uri": "urn:t:1", "body_text": body}))
    assert [(r.reason, r.text) for r in article.removed] == [
        ("credit", "Soldiers patrol the border on June 7. (Photo: AFP)")
    ]
