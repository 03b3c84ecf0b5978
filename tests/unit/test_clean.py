"""Unit tests for the cleaning stage (pipeline/stages/clean/article.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.stages.clean import article as clean_module
from pipeline.stages.clean import clean
from pipeline.stages.clean import html as _clean_html
from schemas.ninjs import RawArticle

DATA = Path(__file__).resolve().parents[1] / "data"
STORY = (
    "The minister said on Monday that the talks would resume next week after a pause of several months. "
    "Officials from both sides are expected to attend the meeting in the capital."
)


def _html(body: str, **fields: Any) -> RawArticle:
    return RawArticle.model_validate({"uri": "urn:test:1", "body_html": body, **fields})


def _text(body: str, **fields: Any) -> RawArticle:
    return RawArticle.model_validate({"uri": "urn:test:1", "body_text": body, **fields})


def _error(raw: RawArticle, **limits: int) -> StageError:
    with pytest.raises(StageError) as info:
        clean(raw, **limits)
    assert info.value.stage is Stage.CLEAN
    return info.value


# --- golden --------------------------------------------------------------------------------------------


def test_scraped_story_matches_golden_body_dateline_and_byline() -> None:
    """The scraped sample loses all its furniture and keeps every story paragraph, its dateline and byline."""
    record = json.loads((DATA / "scraped_story.ninjs.json").read_text("utf-8"))
    golden = json.loads((DATA / "scraped_story.clean.golden.json").read_text("utf-8"))
    article = clean(RawArticle.model_validate(record))
    assert article.paragraph_texts() == golden["paragraphs"]
    assert article.dateline is not None
    assert article.dateline.model_dump() == golden["dateline"]
    assert article.byline == golden["byline"]
    assert article.headline == record["headline"]


# --- errors --------------------------------------------------------------------------------------------


def test_item_without_body_is_no_text_body() -> None:
    """A picture or event item (no body at all) is E_NO_TEXT_BODY."""
    raw = RawArticle.model_validate({"uri": "urn:test:pic", "type": "picture"})
    assert _error(raw).code is ErrorCode.E_NO_TEXT_BODY


def test_oversized_body_is_rejected_before_any_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 5 MB body is E_TOO_LARGE and no parser or scanner is ever called on it."""

    def boom(*args: object, **kwargs: object) -> list[str]:
        raise AssertionError("parsed an oversized body")

    for name in ("scan_markup", "fragment_paragraphs", "page_paragraphs", "text_paragraphs"):
        monkeypatch.setattr(clean_module, name, boom)
    raw = _html("<p>" + "a" * 5_000_000 + "</p>")
    started = time.perf_counter()
    assert _error(raw).code is ErrorCode.E_TOO_LARGE
    assert time.perf_counter() - started < 1.0


def test_size_limit_counts_utf8_bytes_not_characters() -> None:
    """A body under the limit in characters but over it in UTF-8 bytes is E_TOO_LARGE."""
    raw = _text("é" * 600)
    assert _error(raw, max_body_bytes=1_000).code is ErrorCode.E_TOO_LARGE


def test_markup_without_text_is_clean_empty() -> None:
    """Markup that holds only scripts, images and spacers is E_CLEAN_EMPTY."""
    raw = _html("<script>var a = 1;</script><p>&nbsp;</p><img src='x.jpg'><!-- note -->")
    assert _error(raw).code is ErrorCode.E_CLEAN_EMPTY


def test_too_many_paragraphs_is_hostile() -> None:
    """More paragraphs than the limit is E_CLEAN_HOSTILE."""
    raw = _html("".join(f"<p>Paragraph number {i} of a flood.</p>" for i in range(50)))
    assert _error(raw, max_paragraphs=10).code is ErrorCode.E_CLEAN_HOSTILE


# --- hostile markup ------------------------------------------------------------------------------------


def test_markup_over_the_depth_limit_is_hostile() -> None:
    """Markup nested deeper than the limit is refused with E_CLEAN_HOSTILE, quickly, before any parse."""
    raw = _html("<div>" * 100_000 + f"<p>{STORY}</p>" + "</div>" * 100_000)
    started = time.perf_counter()
    assert _error(raw).code is ErrorCode.E_CLEAN_HOSTILE
    assert time.perf_counter() - started < 2.0


def test_unclosed_formatting_tags_count_as_nesting() -> None:
    """Tens of thousands of unclosed <b> tags are refused as hostile in bounded time; a few are fine."""
    started = time.perf_counter()
    assert _error(_html("<p>" + "<b>" * 50_000 + STORY)).code is ErrorCode.E_CLEAN_HOSTILE
    assert time.perf_counter() - started < 2.0
    assert clean(_html("<p>" + "<b>" * 20 + STORY)).body == STORY


def test_huge_attribute_is_ignored() -> None:
    """A megabyte-long attribute value does not reach the text."""
    raw = _html(f'<p title="{"x" * 1_000_000}">{STORY}</p>')
    assert clean(raw).body == STORY


_TAGS = st.sampled_from(
    [
        "div",
        "p",
        "b",
        "i",
        "span",
        "table",
        "tr",
        "td",
        "ul",
        "li",
        "script",
        "style",
        "blockquote",
        "br",
        "a",
        "iframe",
        "h2",
        "pre",
        "svg",
    ]
)
_PIECE = st.one_of(
    _TAGS.map(lambda t: f"<{t}>"),
    _TAGS.map(lambda t: f"</{t}>"),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.sampled_from(
        [
            "&amp;",
            "&#x201c;",
            "&bogus;",
            "<!--",
            "-->",
            "<",
            ">",
            "<!DOCTYPE html>",
            "<html>",
            "<body>",
            '"',
            "“",
            "<![CDATA[",
            "<?xml version='1.0'?>",
            "<!ENTITY x SYSTEM 'file:///'>",
        ]
    ),
)


@settings(max_examples=150, deadline=2_000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECE, max_size=60))
def test_generated_markup_cleans_or_fails_with_a_coded_error(pieces: list[str]) -> None:
    """Any generated markup either cleans into consistent paragraphs or raises a coded StageError, quickly."""
    raw = _html("".join(pieces) + " ") if "".join(pieces).strip() else _html("x")
    try:
        article = clean(raw, max_html_depth=32)
    except StageError as err:
        code = err.code
        article = None
    if article is None:
        assert code in (ErrorCode.E_CLEAN_EMPTY, ErrorCode.E_CLEAN_HOSTILE)
        return
    assert article.body == "\n\n".join(article.paragraph_texts())
    assert all(p.strip() == p and p for p in article.paragraph_texts())


@settings(max_examples=60, deadline=3_000)
@given(st.integers(min_value=1, max_value=5_000), st.sampled_from(["div", "span", "blockquote", "li", "td"]))
def test_any_nesting_depth_finishes_quickly(depth: int, tag: str) -> None:
    """Nesting up to the limit keeps the innermost text; deeper is E_CLEAN_HOSTILE; both in bounded time."""
    raw = _html(f"<{tag}>" * depth + STORY + f"</{tag}>" * depth)
    siblings = tag in ("li", "td")  # an unclosed <li> or <td> ends the previous one: no nesting
    if depth < 1000 or siblings:
        assert clean(raw).body == STORY
    elif depth > 1050:
        assert _error(raw).code is ErrorCode.E_CLEAN_HOSTILE


# --- wire HTML -----------------------------------------------------------------------------------------


def test_scripts_styles_iframes_embeds_comments_and_images_are_dropped() -> None:
    """Non-text elements and comments leave no text behind."""
    raw = _html(
        f"<p>{STORY}</p><script>var x = 'bad';</script><style>p {{color: red}}</style>"
        "<iframe src='https://example.com'>frame text</iframe><embed src='a.swf'><!-- hidden comment -->"
        "<img alt='alt text' src='a.jpg'><noscript>enable js</noscript>"
    )
    assert clean(raw).paragraph_texts() == [STORY]


def test_entities_are_decoded() -> None:
    """HTML entities become characters (&amp; -> &, &#8220; -> “)."""
    raw = _html("<p>AT&amp;T said &#8220;yes&#8221; to the deal on Monday.</p>")
    assert clean(raw).body == "AT&T said “yes” to the deal on Monday."


def test_line_breaks_lists_and_block_quotes_become_paragraphs() -> None:
    """<br>, list items and block quotes each start a new paragraph."""
    raw = _html(
        "<p>First line.<br>Second line.</p><ul><li>Item one</li><li>Item two</li></ul>"
        "<blockquote>Quoted words here.</blockquote>"
    )
    assert clean(raw).paragraph_texts() == [
        "First line.",
        "Second line.",
        "Item one",
        "Item two",
        "Quoted words here.",
    ]


def test_table_rows_become_paragraphs_with_separated_cells() -> None:
    """A table flattens to one paragraph per row, cells joined by a separator."""
    raw = _html("<table><tr><th>Team</th><th>Score</th></tr><tr><td>Spain</td><td>2</td></tr></table>")
    assert clean(raw).paragraph_texts() == ["Team | Score", "Spain | 2"]


def test_inline_markup_does_not_split_words() -> None:
    """Inline tags join their text into the surrounding words, and whitespace is collapsed."""
    raw = _html("<p>The <b>bold</b>ly  stated\n claim <a href='#'>was</a> made.</p>")
    assert clean(raw).body == "The boldly stated claim was made."


def test_agency_signoff_paragraph_is_dropped() -> None:
    """A last paragraph that is only the agency name ("Reuter") is a sign-off, not story."""
    raw = _html(f"<p>{STORY}</p><p>Reuter</p>")
    assert clean(raw).paragraph_texts() == [STORY]


# --- whole pages ---------------------------------------------------------------------------------------


def test_whole_page_yields_article_text_without_navigation() -> None:
    """A whole web page is reduced to its article body; menus and footers go."""
    paras = "".join(f"<p>{STORY} Paragraph {i} adds more detail about the talks.</p>" for i in range(6))
    page = (
        "<!DOCTYPE html><html><head><title>Talks</title><script>track()</script></head><body>"
        "<nav><ul><li><a href='/'>Home</a></li><li><a href='/world'>World</a></li></ul></nav>"
        f"<article><h1>Talks to resume</h1>{paras}</article>"
        "<footer><p>Copyright 2024 Example News. All rights reserved.</p></footer></body></html>"
    )
    raw = RawArticle.model_validate({"uri": "urn:test:page", "url": "https://example.com/a", "html": page})
    texts = clean(raw).paragraph_texts()
    assert any("Paragraph 5 adds more detail" in t for t in texts)
    assert not any(t == "Home" or "rights reserved" in t for t in texts)


def test_page_detection_is_by_document_markers() -> None:
    """Only markup with doctype/html/head/body markers counts as a whole page."""
    assert _clean_html.is_whole_page("<!doctype html><p>x</p>")
    assert not _clean_html.is_whole_page("<p>A wire body about the <b>html</b> standard.</p>")


# --- text bodies, unicode, structure -------------------------------------------------------------------


def test_hard_wrapped_wire_text_is_unwrapped_at_indented_lines() -> None:
    """Teletype-style text joins wrapped lines and starts a paragraph at each indented line."""
    body = (
        "WASHINGTON, Feb 26 - The Panama Canal Commission said in its\n"
        "daily operations report that there was a backlog of ships\n"
        "waiting to enter the canal early today.\n"
        "    The commission expects the backlog to ease over the next\n"
        "two days as more pilots become available.\n Reuter"
    )
    article = clean(_text(body))
    assert article.paragraph_texts() == [
        "The Panama Canal Commission said in its daily operations report that there was a backlog of ships "
        "waiting to enter the canal early today.",
        "The commission expects the backlog to ease over the next two days as more pilots become available.",
    ]
    assert article.dateline is not None
    assert (article.dateline.text, article.dateline.place, article.dateline.date) == (
        "WASHINGTON, Feb 26 -",
        "WASHINGTON",
        "Feb 26",
    )


@pytest.mark.parametrize(
    ("opening", "place", "date", "agency"),
    [
        ("ERBIL, Kurdistan Region of Iraq -", "ERBIL, Kurdistan Region of Iraq", None, None),
        ("WASHINGTON (Reuters) -", "WASHINGTON", None, "Reuters"),
        ("LONDON, Jan 5 (AP) —", "LONDON", "Jan 5", "AP"),
        ("(Reuters) —", None, None, "Reuters"),
        ("ROCHESTER, N.Y., Feb 26 -", "ROCHESTER, N.Y.", "Feb 26", None),
        ("Toronto, March 12 -", "Toronto", "March 12", None),
    ],
)
def test_dateline_is_split_into_place_date_and_agency(
    opening: str, place: str | None, date: str | None, agency: str | None
) -> None:
    """Common dateline shapes are removed from the first paragraph and parsed into their parts."""
    article = clean(_text(f"{opening} {STORY}"))
    assert article.dateline is not None
    dateline = article.dateline
    assert (dateline.text, dateline.place, dateline.date, dateline.agency) == (opening, place, date, agency)
    assert article.body == STORY


def test_sentence_opening_with_a_name_is_not_a_dateline() -> None:
    """A title-case name before a dash without a date is story, not a dateline."""
    body = "Biden - who spoke on Monday - said the talks would resume next week in the capital."
    article = clean(_text(body))
    assert article.dateline is None
    assert article.body == body


def test_quote_marks_are_kept_exactly() -> None:
    """Curly, straight and doubled-apostrophe quote marks survive unchanged."""
    body = "“We will win,” he said. \"We must,\" she said. ''Never,'' they said, and it's voters’ choice."
    assert clean(_text(body)).body == body


def test_mojibake_is_repaired_and_text_is_nfc() -> None:
    """Double-encoded UTF-8 is repaired and decomposed accents are composed (NFC)."""
    body = "The cafÃ© owner and the Cafe\u0301 Noir manager met in Zürich on Monday to sign the deal."
    expected = "The café owner and the Café Noir manager met in Zürich on Monday to sign the deal."
    assert clean(_text(body)).body == expected


def test_paragraph_offsets_point_into_the_body() -> None:
    """Each paragraph span slices its text out of the body, and paragraphs are joined by a blank line."""
    article = clean(_text(f"{STORY}\n\nSecond paragraph here.\n\nThird one."))
    assert [article.body[p.start : p.end] for p in article.paragraphs] == [
        STORY,
        "Second paragraph here.",
        "Third one.",
    ]
    assert article.body == "\n\n".join(article.paragraph_texts())


def test_byline_found_in_text_when_field_is_empty() -> None:
    """A "By Jane Doe" line before the story becomes the byline and leaves the body."""
    article = clean(_text(f"By Jane Doe\n\n{STORY}"))
    assert article.byline == "Jane Doe"
    assert article.body == STORY


def test_byline_field_wins_over_text() -> None:
    """The byline field is kept as sent (whitespace normalised) even when the text has one too."""
    article = clean(_text(f"By Jane Doe\n\n{STORY}", byline="  John   Roe "))
    assert article.byline == "John Roe"


def test_headline_repeated_in_body_is_removed() -> None:
    """The headline repeated at the top of a scraped body is not a paragraph."""
    article = clean(_text(f"Talks to resume next week\n\n{STORY}", headline="Talks to resume next week"))
    assert article.body == STORY
    assert article.headline == "Talks to resume next week"


def test_subheads_in_the_story_are_kept() -> None:
    """A short crosshead between story paragraphs stays (it is story structure, not furniture)."""
    article = clean(_text(f"{STORY}\n\nTalks ahead\n\n{STORY}"))
    assert article.paragraph_texts() == [STORY, "Talks ahead", STORY]


def test_caption_and_newsletter_box_are_removed() -> None:
    """An image caption with a photo credit and a newsletter box at the end are furniture."""
    body = (
        f"Soldiers patrol the countryside near the border on June 7, 2023. (Photo: AFP)\n\n{STORY}\n\n"
        f"{STORY}\n\nNEWSLETTER\n\nGet the latest updates delivered to your inbox."
    )
    assert clean(_text(body)).paragraph_texts() == [STORY, STORY]


def test_declared_language_is_kept_as_lower_case_iso_639_1() -> None:
    """A declared "EN-us" language is reported as "en"."""
    assert clean(_text(STORY, language="EN-us")).language == "en"


def test_missing_language_is_detected() -> None:
    """Without a language field the language is guessed from the text (French here)."""
    body = (
        "Le ministre a déclaré lundi que les négociations reprendraient la semaine prochaine après "
        "une pause de plusieurs mois. Les responsables des deux camps participeront à la réunion."
    )
    assert clean(_text(body)).language == "fr"


def test_element_with_an_attribute_bomb_is_hostile_and_refused_quickly() -> None:
    """One element with 120k attributes (about 1 MB) is E_CLEAN_HOSTILE before any parser sees it."""
    bomb = "<p " + " ".join(f"a{i}=x" for i in range(120_000)) + f">{STORY}</p>"
    started = time.perf_counter()
    assert _error(_html(bomb)).code is ErrorCode.E_CLEAN_HOSTILE
    assert time.perf_counter() - started < 2.0
    assert clean(_html(f'<p class="lead" id="p1" data-x="1">{STORY}</p>')).body == STORY


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("UPDATE 1-Talks to resume next week", "Talks to resume next week"),
        ("REFILE-UPDATE 2-Talks to resume next week", "Talks to resume next week"),
        ("CORRECTED-Talks to resume next week", "Talks to resume next week"),
        ("Update on talks: no date yet", "Update on talks: no date yet"),  # a word, not a desk marker
        ("UPDATE 1-", "UPDATE 1-"),  # nothing else: kept as sent
    ],
)
def test_wire_resend_markers_leave_the_headline(sent: str, kept: str) -> None:
    """Desk markers of a re-sent story ("UPDATE 1-") are not part of its headline; the version says it."""
    assert clean(_text(STORY, headline=sent)).headline == kept
