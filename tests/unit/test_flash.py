"""Flashes (issue 26): an item whose body only repeats its headline is published as a one-paragraph story
flagged ``flash``, not dead-lettered. Cleaning tests are pure; the last ones run ``wirepipe enrich``'s path
(``OfflinePipeline`` with the real model)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from pipeline.enricher import Enricher
from pipeline.errors import ErrorCode, StageError
from pipeline.models import CleanArticle
from pipeline.offline import OfflinePipeline
from pipeline.settings import Settings
from pipeline.stages.clean import clean
from pipeline.stages.clean.flash import is_slug_line, split_slugs
from schemas.ninjs import RawArticle
from schemas.records import DeadLetter, EnrichedArticle

QUAKE = "Powerful earthquake strikes off northeastern Japan"
BOAT = "Rondvaartboot kapseist en zinkt in Boedapest, zeker zeven doden"
# The three messages of the issue, as sent.
F4 = {"uri": "urn:t:f4", "version": 1, "headline": QUAKE, "body_text": QUAKE}
F6 = {"uri": "urn:t:f6", "version": 1, "headline": QUAKE, "body_html": f"<p>{QUAKE}</p>"}
F5 = {"uri": "urn:t:f5", "version": 1, "language": "nl", "headline": BOAT, "body_text": BOAT}
TAKE = {
    "uri": "urn:t:f4",
    "version": 2,
    "headline": QUAKE,
    "body_text": (
        "TOKYO (Reuters) - A powerful earthquake struck off northeastern Japan on Saturday, the Japan "
        "Meteorological Agency said, and a tsunami warning was issued for the coast of Fukushima."
    ),
}
STORY = (
    "The minister said on Monday that the talks would resume next week after a pause of several months. "
    "Officials from both sides are expected to attend the meeting in the capital."
)


def _raw(**fields: Any) -> RawArticle:
    return RawArticle.model_validate({"uri": "urn:test:flash", "headline": QUAKE, **fields})


def _removed(raw: RawArticle) -> list[tuple[str, str, int]]:
    return [(r.text, r.reason, r.before_paragraph) for r in clean(raw).removed]


# --- cleaning ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", [F4, F6, F5], ids=["text", "html", "dutch"])
def test_a_body_that_only_repeats_its_headline_is_kept_as_the_one_paragraph_of_a_flash(
    record: dict[str, Any],
) -> None:
    """Each of the issue's three items keeps its line as the body's only paragraph, flagged, nothing cut."""
    article = clean(RawArticle.model_validate(record))
    assert (article.body, article.paragraph_texts()) == (record["headline"], [record["headline"]])
    assert article.flash and article.removed == [] and article.headline == record["headline"]


def test_the_dutch_flash_keeps_its_declared_language() -> None:
    """The Dutch flash is cleaned as ``nl`` (the NLP step then skips it with a reason, as any Dutch item)."""
    assert clean(RawArticle.model_validate(F5)).language == "nl"


@pytest.mark.parametrize(
    ("body", "removed"),
    [
        (f"URGENT: {QUAKE}", [("URGENT:", "wire slug", 0)]),
        (f"FLASH -- {QUAKE}", [("FLASH --", "wire slug", 0)]),
        (f"BULLETIN {QUAKE}", [("BULLETIN", "wire slug", 0)]),
        (f"Breaking: {QUAKE}", [("Breaking:", "wire slug", 0)]),
        (f"++ BREAKING NEWS ++ {QUAKE}", [("++ BREAKING NEWS ++", "wire slug", 0)]),
        (f"{QUAKE} -- FLASH", [("-- FLASH", "wire slug", 1)]),
        (f"{QUAKE} (URGENT)", [("(URGENT)", "wire slug", 1)]),
        (f"FLASH\n\n{QUAKE}", [("FLASH", "wire slug", 0)]),
        (f"URGENT URGENT\n\n{QUAKE}.", [("URGENT URGENT", "wire slug", 0)]),
        (f"FLASH FLASH\n\n{QUAKE}", [("FLASH FLASH", "wire slug", 0)]),
        (f"{QUAKE.upper()}", []),
    ],
)
def test_wire_slugs_around_or_above_the_repeated_headline_leave_as_wire_slugs(
    body: str, removed: list[tuple[str, str, int]]
) -> None:
    """A slug before, after or above the line is cut and listed where it stood (a stacked one is not taken for
    a byline); the line is the body."""
    raw = _raw(body_text=body)
    article = clean(raw)
    assert article.flash and article.byline is None
    assert article.body.lower().rstrip(".") == QUAKE.lower()
    assert _removed(raw) == removed


@pytest.mark.parametrize(
    ("body", "dateline"),
    [
        (f"TOKYO (Reuters) - {QUAKE}", "TOKYO (Reuters) -"),
        (f"TOKYO, March 16 (Reuters) - URGENT: {QUAKE}", "TOKYO, March 16 (Reuters) -"),
        (f"URGENT: TOKYO (Reuters) - {QUAKE}", "TOKYO (Reuters) -"),
    ],
)
def test_a_flash_line_with_a_dateline_keeps_the_dateline_and_is_a_flash(body: str, dateline: str) -> None:
    """A dated line that repeats the headline is a flash: the dateline goes to ``dateline``, the line is the
    body."""
    article = clean(_raw(body_text=body))
    assert article.flash and article.body == QUAKE
    assert article.dateline is not None and article.dateline.text == dateline


def test_other_furniture_of_a_flash_is_still_cut_with_its_reason() -> None:
    """An "Advertisement" label next to the repeated headline is cut as a label; the line is kept."""
    raw = _raw(body_text=f"Advertisement\n\n{QUAKE}")
    assert clean(raw).flash and clean(raw).body == QUAKE
    assert _removed(raw) == [("Advertisement", "label", 0)]


@pytest.mark.parametrize(
    "fields",
    [
        {"body_text": "Advertisement"},
        {"body_html": "<div><img src='quake.jpg'></div>"},
        {"headline": "FLASH", "body_text": "FLASH"},
    ],
    ids=["only-furniture", "only-a-picture", "headline-is-a-slug"],
)
def test_a_body_empty_for_another_reason_is_still_clean_empty(fields: dict[str, Any]) -> None:
    """Furniture alone, markup alone, or a headline that is only a slug: still E_CLEAN_EMPTY."""
    with pytest.raises(StageError) as info:
        clean(_raw(**fields))
    assert info.value.code is ErrorCode.E_CLEAN_EMPTY


def test_a_whitespace_body_is_still_no_text_body() -> None:
    """A headline with a blank body has no text body (E_NO_TEXT_BODY), flash or not."""
    with pytest.raises(StageError) as info:
        clean(_raw(body_text="  \n\n "))
    assert info.value.code is ErrorCode.E_NO_TEXT_BODY


@pytest.mark.parametrize(
    "raw",
    [
        _raw(body_text=f"{QUAKE}\n\n{STORY}"),
        _raw(body_text=f"{QUAKE}\n\nMore to follow"),
        _raw(body_text="FLASH"),
        RawArticle.model_validate({"uri": "urn:test:flash", "body_text": QUAKE}),
        RawArticle.model_validate({"uri": "urn:t", "headline": "Urgent talks resume", "body_text": "Talks"}),
    ],
    ids=["story-follows", "another-line", "slug-only", "no-headline", "urgent-as-a-word"],
)
def test_an_item_with_anything_else_to_say_is_not_a_flash(raw: RawArticle) -> None:
    """A story after the headline, another line, a body with no repeat of the headline, or no headline: as
    before, and not flagged."""
    assert not clean(raw).flash


def test_a_page_title_repeated_alone_is_not_a_flash() -> None:
    """Only an item's own headline makes a flash: a web page whose text is only its title is empty."""
    page = f"<html><head><title>{QUAKE}</title></head><body><h1>{QUAKE}</h1></body></html>"
    with pytest.raises(StageError) as info:
        clean(RawArticle.model_validate({"uri": "urn:page", "body_html": page}))
    assert info.value.code is ErrorCode.E_CLEAN_EMPTY


@pytest.mark.parametrize(
    ("text", "split"),
    [
        ("URGENT: Quake", ("URGENT:", "Quake", "")),
        ("URGENT Quake", ("URGENT", "Quake", "")),
        ("URGENT QUAKE", ("", "URGENT QUAKE", "")),
        ("Urgent talks", ("", "Urgent talks", "")),
        ("Quake -- FLASH", ("", "Quake", "-- FLASH")),
        ("FLASH", ("", "FLASH", "")),
    ],
)
def test_slugs_split_off_only_behind_a_mark_or_in_capitals_before_a_mixed_case_word(
    text: str, split: tuple[str, str, str]
) -> None:
    """A slug needs a mark, or capitals before a word that is not in capitals; a slug alone stays whole."""
    assert split_slugs(text) == split


def test_slug_lines_are_slugs_alone_in_any_case() -> None:
    """Slug lines are slugs alone ("FLASH", "++ Breaking ++", "NEWS ALERT"), not lines with a slug word."""
    assert all(is_slug_line(t) for t in ("FLASH", "++ Breaking ++", "NEWS ALERT", "Urgent!"))
    assert not any(is_slug_line(t) for t in ("Alert issued", "FLASH FLOOD"))


def test_the_flag_travels_between_workers_only_when_set() -> None:
    """An article's JSON on the internal topics leaves ``flash`` out when false (so a worker of the previous
    release still reads it) and carries it when true."""
    plain, flash = clean(_raw(body_text=f"{QUAKE}\n\n{STORY}")), clean(_raw(body_text=QUAKE))
    assert "flash" not in json.loads(plain.model_dump_json())
    assert CleanArticle.model_validate_json(flash.model_dump_json()).flash


# --- through wirepipe enrich's path ------------------------------------------------------------------


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    settings = Settings()
    return Enricher(settings.spacy_model, batch_size=settings.batch_size, blas=settings.blas)


def _enrich(enricher: Enricher, *records: dict[str, Any]) -> list[EnrichedArticle | DeadLetter]:
    values: Iterable[bytes] = (json.dumps(r).encode() for r in records)
    return list(OfflinePipeline(enricher=enricher).run(values))


def _enriched(outcome: EnrichedArticle | DeadLetter) -> EnrichedArticle:
    assert isinstance(outcome, EnrichedArticle), outcome
    return outcome


@pytest.mark.parametrize("record", [F4, F6], ids=["text", "html"])
def test_an_earthquake_flash_is_enriched_and_names_japan_once(
    enricher: Enricher, record: dict[str, Any]
) -> None:
    """The flash is an ``enriched`` record flagged ``flash``; Japan is one GPE, in headline and body."""
    [outcome] = _enrich(enricher, record)
    article = _enriched(outcome)
    assert (article.outcome, article.flash, article.body) == ("enriched", True, QUAKE)
    [japan] = [e for e in article.entities if e.name == "Japan"]
    assert japan.label == "GPE" and japan.in_headline
    assert [m.part for m in japan.mentions] == ["headline", "body"]


def test_the_dutch_flash_is_enriched_without_english_ner(enricher: Enricher) -> None:
    """The Dutch flash is ``enriched`` and flagged; as for any Dutch item, no entities and a reason."""
    [outcome] = _enrich(enricher, F5)
    article = _enriched(outcome)
    assert (article.outcome, article.flash, article.language) == ("enriched", True, "nl")
    assert article.entities == [] and article.reason == "language nl: no English NER or quotes"


def test_the_first_take_after_a_flash_is_an_update_and_not_a_flash(enricher: Enricher) -> None:
    """A flash, then a higher version under its uri: ``enriched`` flash, then an ``update`` that is not."""
    flash, take = (_enriched(o) for o in _enrich(enricher, F4, TAKE))
    assert (flash.outcome, flash.version, flash.flash) == ("enriched", 1, True)
    assert (take.outcome, take.version, take.flash) == ("update", 2, False)
    assert take.dateline is not None and "Japan" in {e.name for e in take.entities}


def test_the_same_flash_from_two_uris_is_a_duplicate_flagged_flash(enricher: Enricher) -> None:
    """The issue's text and HTML items carry the same words: dedup publishes the second as a duplicate
    of the first (its clean body, no NLP), still flagged ``flash``."""
    first, second, _ = (_enriched(o) for o in _enrich(enricher, F4, F6, F5))
    assert (first.outcome, second.outcome) == ("enriched", "duplicate")
    assert second.flash and second.body == QUAKE and second.duplicate.duplicate_of == "urn:t:f4"
