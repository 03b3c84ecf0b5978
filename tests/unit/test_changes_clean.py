"""What cleaning hands the changes stage: correction notes as furniture, the headline's slug."""

from __future__ import annotations

import pytest

from pipeline.stages.clean import clean
from pipeline.stages.clean.furniture import CORRECTION_NOTE, furniture_reason
from schemas.ninjs import RawArticle

LEDE = "WASHINGTON (Reuters) - The death toll from the attack rose to 15, officials said on Monday night."
MORE = "The attack on the market in the north of the country was the deadliest this year, police said."


def _clean(
    body: str, headline: str = "Attack kills 15"
) -> tuple[list[str], list[tuple[str, str]], str | None, str | None]:
    article = clean(RawArticle.model_validate({"uri": "urn:t", "headline": headline, "body_text": body}))
    return (
        article.paragraph_texts(),
        [(r.reason, r.text) for r in article.removed],
        article.headline,
        article.headline_slug,
    )


@pytest.mark.parametrize(
    "note",
    [
        "(Corrects paragraph 1 to show death toll of 15, not 12)",
        "(corrects cts per share)",
        "CORRECTION: An earlier version of this story misstated the death toll.",
        "Correction - The toll was 15.",
    ],
)
def test_a_correction_note_is_cut_as_a_correction_note(note: str) -> None:
    """Before, inside or after the story, a desk's correction note leaves the body, listed with its reason."""
    for body in (f"{note}\n\n{LEDE}\n\n{MORE}", f"{LEDE}\n\n{note}\n\n{MORE}", f"{LEDE}\n\n{MORE}\n\n{note}"):
        paragraphs, removed, _, _ = _clean(body)
        assert (CORRECTION_NOTE, note) in removed
        assert note not in paragraphs


def test_an_editors_note_is_cut_only_when_it_tells_of_a_correction() -> None:
    """ "This story was corrected to ..." is a correction note; an update note or a disclaimer is story text
    (publishers' own bodies keep those)."""
    corrected = "EDITOR'S NOTE: This story was corrected to show the toll is 15, not 12."
    updated = "Editor's note: This story was updated with comments from the police."
    _, removed, _, _ = _clean(f"{corrected}\n\n{LEDE}\n\n{MORE}\n\n{updated}")
    assert removed == [(CORRECTION_NOTE, corrected)]


@pytest.mark.parametrize(
    "text",
    [
        "Corrections officers said the prison was calm after the riot on Sunday and inmates were locked in.",
        "Correctional services said " + "the inmates were moved to other prisons in the region. " * 12,
        "CORRECTION: " + "a long paragraph that tells the story of the correction at length. " * 8,
    ],
)
def test_story_text_that_starts_like_a_note_stays(text: str) -> None:
    """Words, not prefixes of words, and only short paragraphs: a story sentence is never a note."""
    assert furniture_reason(text) is None


@pytest.mark.parametrize(
    ("sent", "slug", "headline"),
    [
        ("CORRECTED-Attack kills 15", "CORRECTED-", "Attack kills 15"),
        ("REFILE-UPDATE 2-Attack kills 15", "REFILE-UPDATE 2-", "Attack kills 15"),
        (
            "(CORRECTED)-IVORY COAST CONFIRMS PRESENCE AT TALKS",
            "(CORRECTED)-",
            "IVORY COAST CONFIRMS PRESENCE AT TALKS",
        ),
        ("(CORRECTED) - TSENG SEES SALES INCREASE", "(CORRECTED) -", "TSENG SEES SALES INCREASE"),
        ("Attack kills 15", None, "Attack kills 15"),
    ],
)
def test_the_headline_slug_is_cut_from_the_headline_and_kept(
    sent: str, slug: str | None, headline: str
) -> None:
    """The record's headline has no re-send marker; the marker travels on as ``headline_slug``."""
    _, _, got_headline, got_slug = _clean(f"{LEDE}\n\n{MORE}", headline=sent)
    assert (got_slug, got_headline) == (slug, headline)
