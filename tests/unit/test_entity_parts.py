"""Entities over every part of an article: headline, dateline place, byline names and body, each mention
saying which part its offsets point into. Docs are built with ``spacy.blank`` and hand-set spans, so the
tests pin the grouping logic, not the model."""

from __future__ import annotations

import spacy
from spacy.tokens import Doc

from pipeline.stages.entities import body_entities, entity_for_span, extract_entities
from schemas.records import Dateline, Entity

_BLANK = spacy.blank("en")


def _doc(text: str, labelled: list[tuple[str, str]]) -> Doc:
    doc = _BLANK(text)
    spans, pos = [], 0
    for phrase, label in labelled:
        start = text.index(phrase, pos)
        span = doc.char_span(start, start + len(phrase), label=label)
        assert span is not None, phrase
        spans.append(span)
        pos = start + len(phrase)
    doc.ents = spans
    return doc


def _where(entity: Entity) -> list[tuple[str, str]]:
    return [(m.part, m.text) for m in entity.mentions]


def test_dateline_place_pieces_are_place_mentions_in_the_dateline() -> None:
    """"VENICE , Italy 1996-08-31": VENICE and Italy are places, offsets into the dateline text."""
    dateline = Dateline(text="VENICE , Italy 1996-08-31", place="VENICE , Italy", date="1996-08-31")
    doc = _doc("The festival in Venice opened.", [("Venice", "GPE")])
    entities = {e.name: e for e in extract_entities(doc, dateline=dateline)}
    assert _where(entities["Venice"]) == [("dateline", "VENICE"), ("body", "Venice")]
    assert _where(entities["Italy"]) == [("dateline", "Italy")]
    italy = entities["Italy"].mentions[0]
    assert dateline.text[italy.start : italy.end] == "Italy"
    assert entities["Italy"].label == "GPE"


def test_byline_names_are_people_in_the_byline() -> None:
    """"By Jane Doe and John Roe, Reuters": two people with byline offsets; the agency is not a person."""
    byline = "By Jane Doe and John Roe, Reuters"
    entities = extract_entities(_doc("Nothing here.", []), byline=byline)
    assert [(e.label, _where(e)) for e in entities] == [
        ("PERSON", [("byline", "Jane Doe")]),
        ("PERSON", [("byline", "John Roe")]),
    ]
    assert all(byline[m.start : m.end] == m.text for e in entities for m in e.mentions)


def test_headline_parse_gives_headline_mentions_grouped_with_the_body() -> None:
    """A mixed-case headline's own NER spans are headline mentions, in the same entity as the body's."""
    headline = "Biden meets Kishida in Tokyo"
    head_doc = _doc(headline, [("Biden", "PERSON"), ("Kishida", "PERSON"), ("Tokyo", "GPE")])
    body = _doc("President Joe Biden arrived.", [("Joe Biden", "PERSON")])
    entities = {e.name: e for e in extract_entities(body, headline, headline_doc=head_doc)}
    assert _where(entities["Joe Biden"]) == [("headline", "Biden"), ("body", "Joe Biden")]
    assert _where(entities["Kishida"]) == [("headline", "Kishida")]
    assert entities["Kishida"].in_headline and entities["Kishida"].first_start == 12
    assert entities["Joe Biden"].first_start == body.text.index("Joe Biden")


def test_capitals_headline_gets_mentions_for_the_names_the_body_uses() -> None:
    """"SOCCER - JAPAN GET LUCKY WIN , CHINA ...": Japan and China are found in it from the body's names."""
    headline = "SOCCER - JAPAN GET LUCKY WIN , CHINA IN SURPRISE DEFEAT ."
    body = _doc("Japan beat Syria and China lost.", [("Japan", "GPE"), ("Syria", "GPE"), ("China", "GPE")])
    entities = {e.name: e for e in extract_entities(body, headline)}
    assert _where(entities["Japan"]) == [("headline", "JAPAN"), ("body", "Japan")]
    assert _where(entities["China"]) == [("headline", "CHINA"), ("body", "China")]
    assert not entities["Syria"].in_headline
    japan = entities["Japan"].mentions[0]
    assert headline[japan.start : japan.end] == "JAPAN"


def test_body_view_and_speaker_lookup_use_body_mentions_only() -> None:
    """Quotes read body offsets: other parts' mentions are left out of ``body_entities`` and lookups."""
    head_doc = _doc("Kishida visits", [("Kishida", "PERSON")])
    body = _doc("Mr. Kishida said so. Paris agreed.", [("Kishida", "PERSON"), ("Paris", "GPE")])
    entities = extract_entities(body, "Kishida visits", headline_doc=head_doc)
    view = body_entities(entities)
    assert all(m.part == "body" for e in view for m in e.mentions)
    assert [e.count for e in view] == [1, 1]
    # offsets 0-7 are "Kishida" in the headline but "Mr. Kis" in the body: no headline hit
    assert entity_for_span(entities, 0, 3) is None
    assert entity_for_span(entities, 4, 11) is entities[0]
