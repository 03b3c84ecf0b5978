"""Where each piece of a plain-text body goes when it is cleaned: body, headline, dateline, byline or
``removed`` (with why). Nothing of the text may vanish; each test names the text and where it went."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.models import CleanArticle
from pipeline.stages.clean import clean
from schemas.ninjs import RawArticle

STORY = (
    "The minister said on Monday that the talks would resume next week after a pause of several months. "
    "Officials from both sides are expected to attend the meeting in the capital."
)
SECOND = "Japan beat Syria 2-1 in their opening match of the Asian Cup on Friday, the organisers said."
_WORD = re.compile(r"\w+")


def _text(body: str, **fields: Any) -> RawArticle:
    return RawArticle.model_validate({"uri": "urn:test:1", "body_text": body, **fields})


def _published_words(article: CleanArticle) -> Counter[str]:
    parts = [article.headline, article.byline, article.body, *(r.text for r in article.removed)]
    if article.dateline is not None:
        parts.append(article.dateline.text)
    return Counter(w for part in parts if part for w in _WORD.findall(part))


# --- title lines -----------------------------------------------------------------------------------


def test_capitals_first_line_without_a_headline_field_becomes_the_headline() -> None:
    """CoNLL-style text: the capitals title goes to headline, the dated line to dateline, the rest is body."""
    body = (
        "SOCCER - JAPAN GET LUCKY WIN , CHINA IN SURPRISE DEFEAT .\n"
        "AL-AIN , United Arab Emirates 1996-12-06\n"
        f"{SECOND}\n{STORY}"
    )
    article = clean(_text(body))
    assert article.headline == "SOCCER - JAPAN GET LUCKY WIN , CHINA IN SURPRISE DEFEAT ."
    assert article.dateline is not None
    assert (article.dateline.text, article.dateline.place, article.dateline.date) == (
        "AL-AIN , United Arab Emirates 1996-12-06",
        "AL-AIN , United Arab Emirates",
        "1996-12-06",
    )
    assert article.paragraph_texts() == [SECOND, STORY]
    assert article.removed == []


def test_capitals_title_with_figures_is_a_headline_too() -> None:
    """A capitals title with a figure ("UNDER-21", "1997") is still the headline, not body text."""
    article = clean(_text(f"CRICKET - 1997 ASHES ITINERARY .\nLONDON 1996-08-30\n{STORY}"))
    assert article.headline == "CRICKET - 1997 ASHES ITINERARY ."
    assert article.dateline is not None and article.dateline.place == "LONDON"
    assert article.body == STORY


def test_capitals_line_is_not_taken_for_a_dateline_before_a_dash() -> None:
    """ "SOCCER - JAPAN GET ..." is a topic slug and a shouted title, not the dateline "SOCCER -"."""
    article = clean(_text(f"SOCCER - JAPAN GET LUCKY WIN , CHINA IN SURPRISE DEFEAT .\n\n{STORY}"))
    assert article.dateline is None
    assert article.headline == "SOCCER - JAPAN GET LUCKY WIN , CHINA IN SURPRISE DEFEAT ."


def test_short_title_line_without_a_headline_field_becomes_the_headline() -> None:
    """A scraped body's short first line (no full stop) is its title: headline, not cut."""
    article = clean(_text(f"Talks to resume next week\n\n{STORY}"))
    assert article.headline == "Talks to resume next week"
    assert article.body == STORY


def test_title_line_ending_like_a_sentence_stays_in_the_body() -> None:
    """A first line that reads as a sentence stays body text (it may hold a quote); no headline is made."""
    title = "Canada government cash balances fall in week ."
    article = clean(_text(f"{title}\nOTTAWA 1996-08-30\n{STORY}"))
    assert article.headline is None
    assert article.paragraph_texts() == [title, STORY]
    assert article.dateline is not None and article.dateline.text == "OTTAWA 1996-08-30"


def test_capitals_line_inside_the_story_stays_in_the_body() -> None:
    """A long capitals line between story paragraphs is body text (a section head or a table title, as
    measured on two page benchmarks and the wire corpus), not cut as a shouted promo."""
    head = "FEBRUARY SALES FOR MAJOR U.S. RETAILERS BY STORE GROUP"
    article = clean(_text(f"{STORY}\n\n{head}\n\n{SECOND}", headline="Retail sales rise"))
    assert article.headline == "Retail sales rise"
    assert article.paragraph_texts() == [STORY, head, SECOND]
    assert article.removed == []


def test_short_line_before_the_story_with_a_headline_field_goes_to_removed() -> None:
    """With a headline given, a short label line before the story is cut, and listed with its reason."""
    article = clean(_text(f"World news\n\n{STORY}\n\n{SECOND}", headline="Talks resume"))
    assert article.headline == "Talks resume"
    assert [(r.text, r.reason, r.before_paragraph) for r in article.removed] == [
        ("World news", "short line before the story", 0)
    ]
    assert article.paragraph_texts() == [STORY, SECOND]


def test_byline_line_goes_to_the_byline_not_the_headline() -> None:
    """A "By ..." first line is the byline even when no headline is given."""
    article = clean(_text(f"By Jane Doe\n\n{STORY}"))
    assert (article.headline, article.byline, article.body) == (None, "Jane Doe", STORY)


# --- datelines -------------------------------------------------------------------------------------


def test_dateline_with_a_space_before_its_comma_and_a_dash_is_recognised() -> None:
    """Tokenised text writes "WASHINGTON , March 3 ( Reuters ) -": still a dateline with its parts."""
    article = clean(_text(f"WASHINGTON , March 3 ( Reuters ) - {STORY}"))
    assert article.dateline is not None
    assert (article.dateline.place, article.dateline.date, article.dateline.agency) == (
        "WASHINGTON",
        "March 3",
        "Reuters",
    )
    assert article.body == STORY


def test_a_dated_line_of_its_own_is_the_dateline_and_leaves_the_body() -> None:
    """ "VENICE , Italy 1996-08-31" on its own line is the dateline; the body starts after it."""
    article = clean(_text(f"VENICE , Italy 1996-08-31\n{STORY}"))
    assert article.dateline is not None
    assert (article.dateline.place, article.dateline.date) == ("VENICE , Italy", "1996-08-31")
    assert article.body == STORY


def test_all_capitals_wire_story_keeps_its_dateline_and_its_wrapped_paragraph() -> None:
    """An old all-capitals wire: the dated dateline is taken and wrapped lines still join (a capitals line
    ends a paragraph only in mixed-case text)."""
    body = (
        "BUENOS AIRES, APR 9 - ABOUT 3,314 HEAD OF CATTLE WERE\n"
        "AUCTIONED IN LINIERS CATTLE MARKET, AGAINST 13,952 ON WEDNESDAY\n"
        "AND 9,217 LAST THURSDAY, TRADE SOURCES SAID.\n"
        "    MAXIMUM PRICES WERE QUOTED IN AUSTRALES PER KILO."
    )
    article = clean(_text(body))
    assert article.dateline is not None and article.dateline.text == "BUENOS AIRES, APR 9 -"
    assert article.paragraph_texts() == [
        "ABOUT 3,314 HEAD OF CATTLE WERE AUCTIONED IN LINIERS CATTLE MARKET, AGAINST 13,952 ON WEDNESDAY "
        "AND 9,217 LAST THURSDAY, TRADE SOURCES SAID.",
        "MAXIMUM PRICES WERE QUOTED IN AUSTRALES PER KILO.",
    ]


def test_a_day_and_date_line_is_not_a_dateline() -> None:
    """ "SATURDAY , AUGUST 31" names no place: it stays where it was (a schedule heading in a table)."""
    article = clean(_text(f"{STORY}\nSATURDAY , AUGUST 31\nKANSAS CITY AT DETROIT"))
    assert article.dateline is None
    assert "SATURDAY , AUGUST 31" in article.paragraph_texts()


# --- paragraphs ------------------------------------------------------------------------------------


def test_one_sentence_a_line_is_not_unwrapped() -> None:
    """Lines that each end a sentence are paragraphs of their own, not hard-wrapped text to join."""
    lines = [
        "Results of South Korean pro-soccer games played on Thursday .",
        "Pohang beat Ulsan 3-2 after leading 1-0 at halftime in Pohang .",
        "Anyang and Chonnam drew 1-1 in front of a small crowd in Anyang .",
        "Suwon beat Chonbuk 2-0 to stay top of the table after ten games .",
    ]
    article = clean(_text("\n".join(lines)))
    assert article.paragraph_texts() == lines


def test_hard_wrapped_text_keeps_its_title_and_dateline_lines_apart() -> None:
    """In wrapped text a short line (title, dated line) ends its paragraph; wrapped lines still join."""
    body = (
        "CRICKET - AUSTRALIA WIN TOSS AND CHOOSE TO BAT .\n"
        "COLOMBO 1996-08-30\n"
        "Australia won the toss and elected to bat against Sri Lanka in\n"
        "the third match of the Singer World Series limited overs cricket\n"
        "tournament at the Premadasa stadium in Colombo on Friday when\n"
        "the weather stayed fine for the whole of the day and night ."
    )
    article = clean(_text(body))
    assert article.headline == "CRICKET - AUSTRALIA WIN TOSS AND CHOOSE TO BAT ."
    assert article.dateline is not None and article.dateline.text == "COLOMBO 1996-08-30"
    assert len(article.paragraphs) == 1
    assert article.body.startswith("Australia won the toss") and article.body.endswith("night .")


# --- removed ---------------------------------------------------------------------------------------


def test_furniture_is_listed_in_removed_with_reason_and_place() -> None:
    """Each cut paragraph is in ``removed``, in order, with why and before which body paragraph."""
    body = (
        f"Advertisement\n\n{STORY}\n\nPhoto: Reuters/Jane Doe\n\n{SECOND}\n\n"
        "Related articles\n\nMarkets fall on rate fears\n\nOil rises"
    )
    article = clean(_text(body, headline="Talks"))
    assert article.paragraph_texts() == [STORY, SECOND]
    assert [(r.text, r.reason, r.before_paragraph) for r in article.removed] == [
        ("Advertisement", "label", 0),
        ("Photo: Reuters/Jane Doe", "caption", 1),
        ("Related articles", "block after a furniture heading", 2),
        ("Markets fall on rate fears", "block after a furniture heading", 2),
        ("Oil rises", "block after a furniture heading", 2),
    ]


_PIECES = st.sampled_from(
    [
        STORY,
        SECOND,
        "Advertisement",
        "SHARE THIS ARTICLE",
        "By Jane Doe",
        "Photo: AFP",
        "https://example.com/story",
        "WORLD CUP LATEST NEWS AND RESULTS FROM EVERY GROUND",
        "LONDON 1996-08-30",
        "WASHINGTON (Reuters) - The vote was delayed until next week by the committee chair.",
        "Related stories",
        "Talks to resume",
        "Jan. 29, 2024 • 4 min read",
        "3 - 1",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=10), st.sampled_from(["\n\n", "\n"]), st.booleans())
def test_no_word_of_a_plain_text_body_vanishes(pieces: list[str], joiner: str, with_headline: bool) -> None:
    """Every word of the text is published: in the headline, dateline, byline, body or ``removed`` (the
    "By" of a byline line aside: the byline field holds the name)."""
    raw = _text(joiner.join([*pieces, STORY]), **({"headline": "Talks"} if with_headline else {}))
    article = clean(raw)
    sent = Counter(_WORD.findall(raw.body or ""))
    lost = sent - _published_words(article)
    if article.byline:
        lost -= Counter({"By": sent["By"]})
    assert not lost
