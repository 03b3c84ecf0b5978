"""Entity extraction: span trimming, grouping mentions into canonical entities, and lookup by span.

Grouping tests build docs with ``spacy.blank("en")`` and hand-set entity spans, so they pin the logic,
not the model; the model is loaded once per session only to check the pipeline ``load_nlp`` builds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.settings import Settings
from pipeline.stages.analysis import ModelError, load_nlp
from pipeline.stages.entities import (
    TRIM_COMPONENT,
    AliasTable,
    body_entities,
    canonical_key,
    entity_for_span,
    extract_entities,
    load_aliases,
    trim_entity_spans,
)
from schemas.records import Dateline, Entity

_BLANK = spacy.blank("en")


def _doc(text: str, labelled: list[tuple[str, str]]) -> Doc:
    """A doc of ``text`` whose entities are ``(phrase, label)`` pairs found left to right in order."""
    doc = _BLANK(text)
    spans = []
    pos = 0
    for phrase, label in labelled:
        start = text.index(phrase, pos)
        span = doc.char_span(start, start + len(phrase), label=label)
        assert span is not None, phrase
        spans.append(span)
        pos = start + len(phrase)
    doc.ents = spans
    return doc


def _by_name(entities: list[Entity]) -> dict[str, Entity]:
    return {e.name: e for e in entities}


@pytest.fixture(scope="session")
def nlp() -> Language:
    return load_nlp(Settings().spacy_model)


# --- load_nlp and the trim component ---------------------------------------------------------------


def test_a_model_that_is_not_installed_or_lacks_a_parse_is_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"cannot be loaded.*WIREPIPE_SPACY_MODEL"):
        load_nlp("no_such_model_installed")
    spacy.blank("en").to_disk(tmp_path / "blank")  # tokenizer only: no tagger, parser or ner
    with pytest.raises(ModelError, match="has no tagger, parser, ner"):
        load_nlp(str(tmp_path / "blank"))


def test_load_nlp_keeps_what_the_quote_stage_needs_and_trims_after_ner(nlp: Language) -> None:
    """The full pipeline runs what the quote stage reads, trims after ner, and keeps the sentence
    recogniser loaded for the selective analysis but out of nlp.pipe (the parser sets sentences there)."""
    names = nlp.pipe_names
    assert {"tagger", "parser", "lemmatizer", "ner"} <= set(names)
    assert names.index(TRIM_COMPONENT) == names.index("ner") + 1
    assert "senter" in nlp.component_names
    assert "senter" not in names


def test_model_doc_offsets_are_body_offsets(nlp: Language) -> None:
    body = "President Joe Biden met Mr. Kishida in Tokyo.\n\nBiden's aides said little."
    for entity in extract_entities(nlp(body)):
        for mention in entity.mentions:
            assert body[mention.start : mention.end] == mention.text


def test_trim_drops_leading_the_and_trailing_possessive() -> None:
    doc = trim_entity_spans(_doc("She met the Acme Group's envoy.", [("the Acme Group's", "ORG")]))
    assert [(e.text, e.label_) for e in doc.ents] == [("Acme Group", "ORG")]


def test_trim_drops_spans_crossing_a_line_break_or_without_letters() -> None:
    doc = trim_entity_spans(
        _doc(
            "Acme\nWidgets and 1996 and Paris.",
            [
                ("Acme\nWidgets", "ORG"),
                ("1996", "ORG"),
                ("Paris", "GPE"),
            ],
        )
    )
    assert [e.text for e in doc.ents] == ["Paris"]


def test_trim_leaves_numeric_labels_alone() -> None:
    doc = trim_entity_spans(_doc("It rose 5 percent.", [("5 percent", "PERCENT")]))
    assert [e.text for e in doc.ents] == ["5 percent"]


def test_trim_splits_a_span_at_a_bracket_or_a_free_standing_dash() -> None:
    text = "The Rubber Agreement (INRA met. Romania - Cosmin Contra scored."
    doc = trim_entity_spans(
        _doc(text, [("Rubber Agreement (INRA", "ORG"), ("Romania - Cosmin Contra", "PERSON")])
    )
    assert [e.text for e in doc.ents] == ["Rubber Agreement", "INRA", "Romania", "Cosmin Contra"]


def test_trim_keeps_a_hyphenated_name_whole() -> None:
    doc = trim_entity_spans(_doc("Nagorno-Karabakh voted.", [("Nagorno-Karabakh", "GPE")]))
    assert [e.text for e in doc.ents] == ["Nagorno-Karabakh"]


def test_trim_drops_a_trailing_score_from_a_place_or_person() -> None:
    doc = trim_entity_spans(_doc("Durham 114 all out.", [("Durham 114", "GPE")]))
    assert [e.text for e in doc.ents] == ["Durham"]


def test_trim_drops_spans_without_a_capital_letter() -> None:
    doc = trim_entity_spans(_doc("The senate met in Rome.", [("senate", "ORG"), ("Rome", "GPE")]))
    assert [e.text for e in doc.ents] == ["Rome"]


def test_a_name_found_once_labels_its_other_occurrences() -> None:
    doc = trim_entity_spans(_doc("Tarango won. Later Tarango lost.", [("Tarango", "PERSON")]))
    assert [(e.text, e.start_char) for e in doc.ents] == [("Tarango", 0), ("Tarango", 19)]


def test_a_persons_surname_alone_is_labelled_as_that_person() -> None:
    doc = trim_entity_spans(_doc("Manaspas Xuto spoke. Then Xuto left.", [("Manaspas Xuto", "PERSON")]))
    assert [(e.text, e.label_) for e in doc.ents] == [("Manaspas Xuto", "PERSON"), ("Xuto", "PERSON")]


def test_propagation_skips_an_occurrence_inside_a_longer_capitalised_name() -> None:
    doc = trim_entity_spans(_doc("Riggs said. The Riggs Bank fell.", [("Riggs", "ORG")]))
    assert [e.start_char for e in doc.ents] == [0]


# --- grouping -------------------------------------------------------------------------------------


def test_surname_and_titled_forms_join_the_full_name() -> None:
    body = "Joe Biden spoke. Biden left. President Biden returned. Mr. Biden's aide stayed."
    doc = _doc(
        body,
        [
            ("Joe Biden", "PERSON"),
            ("Biden", "PERSON"),
            ("President Biden", "PERSON"),
            ("Mr. Biden's", "PERSON"),
        ],
    )
    [entity] = extract_entities(doc)
    assert (entity.id, entity.name, entity.label, entity.count) == (
        "PERSON:joe-biden",
        "Joe Biden",
        "PERSON",
        4,
    )


def test_ambiguous_surname_stays_apart_from_both_full_names() -> None:
    body = "Joe Biden and Hunter Biden arrived. Biden spoke."
    doc = _doc(body, [("Joe Biden", "PERSON"), ("Hunter Biden", "PERSON"), ("Biden", "PERSON")])
    assert sorted(e.name for e in extract_entities(doc)) == ["Biden", "Hunter Biden", "Joe Biden"]


def test_first_name_alone_joins_the_one_full_name_it_starts() -> None:
    doc = _doc("Hunter Biden spoke. Hunter left.", [("Hunter Biden", "PERSON"), ("Hunter", "PERSON")])
    [entity] = extract_entities(doc)
    assert entity.count == 2


def test_middle_initial_does_not_split_a_person() -> None:
    doc = _doc(
        "George W. Bush won. George Bush spoke.", [("George W. Bush", "PERSON"), ("George Bush", "PERSON")]
    )
    [entity] = extract_entities(doc)
    assert entity.name == "George W. Bush"


def test_country_abbreviations_from_the_alias_file_are_one_entity() -> None:
    body = "The U.S. and the United States and US and America."
    doc = _doc(body, [("U.S.", "GPE"), ("United States", "GPE"), ("US", "ORG"), ("America", "LOC")])
    [entity] = extract_entities(doc)
    assert (entity.id, entity.name, entity.label, entity.count) == (
        "GPE:united-states",
        "United States",
        "GPE",
        4,
    )


def test_alias_id_is_canonical_but_name_is_the_form_the_article_used() -> None:
    [entity] = extract_entities(_doc("The U.N. met.", [("U.N.", "GPE")]))
    assert (entity.id, entity.name, entity.label) == ("ORG:united-nations", "U.N.", "ORG")


def test_acronym_joins_the_organisation_whose_initials_it_spells() -> None:
    body = "The Federal Aviation Administration said. The FAA added."
    doc = _doc(body, [("Federal Aviation Administration", "ORG"), ("FAA", "ORG")])
    [entity] = extract_entities(doc)
    assert entity.name == "Federal Aviation Administration"


def test_company_suffix_does_not_split_a_company_and_the_name_keeps_it() -> None:
    body = "Champion Products Inc said. Champion Products shares rose. Champion fell."
    doc = _doc(body, [("Champion Products Inc", "ORG"), ("Champion Products", "ORG"), ("Champion", "ORG")])
    [entity] = extract_entities(doc)
    assert (entity.name, entity.count) == ("Champion Products Inc", 3)


def test_lone_surname_mislabelled_as_org_joins_the_person() -> None:
    doc = _doc("Manaspas Xuto spoke. Xuto left.", [("Manaspas Xuto", "PERSON"), ("Xuto", "ORG")])
    [entity] = extract_entities(doc)
    assert (entity.label, entity.count) == ("PERSON", 2)


def test_short_company_name_before_the_full_one_is_kept_apart() -> None:
    body = "The Treasury said. The Treasury Select Committee met."
    doc = _doc(body, [("Treasury", "ORG"), ("Treasury Select Committee", "ORG")])
    assert [e.name for e in extract_entities(doc)] == ["Treasury", "Treasury Select Committee"]


def test_majority_label_wins_when_the_model_disagrees_with_itself() -> None:
    body = "Reuters said. Reuters added. Reuters left."
    doc = _doc(body, [("Reuters", "ORG"), ("Reuters", "PERSON"), ("Reuters", "ORG")])
    [entity] = extract_entities(doc)
    assert (entity.label, entity.count) == ("ORG", 3)


def test_numeric_labels_are_not_entities() -> None:
    doc = _doc("On Monday Paris paid $5.", [("Monday", "DATE"), ("Paris", "GPE"), ("$5", "MONEY")])
    assert [e.name for e in extract_entities(doc)] == ["Paris"]


def test_entities_are_sorted_by_first_mention_and_carry_it() -> None:
    body = "Paris spoke to Berlin. Paris again. Rome."
    doc = _doc(body, [("Paris", "GPE"), ("Berlin", "GPE"), ("Paris", "GPE"), ("Rome", "GPE")])
    entities = extract_entities(doc)
    assert [(e.name, e.first_start) for e in entities] == [("Paris", 0), ("Berlin", 15), ("Rome", 36)]


def test_ids_stay_unique_when_two_entities_share_a_name() -> None:
    body = "Joe Biden and Hunter Biden arrived. Biden spoke. Dr. Biden too."
    doc = _doc(
        body,
        [("Joe Biden", "PERSON"), ("Hunter Biden", "PERSON"), ("Biden", "PERSON"), ("Dr. Biden", "PERSON")],
    )
    ids = [e.id for e in extract_entities(doc)]
    assert len(ids) == len(set(ids))


_NAMES = ["Joe Biden", "Biden", "U.S.", "United States", "Acme Corp", "Acme", "IMF", "Paris"]
_LABELS = ["PERSON", "ORG", "GPE", "NORP"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from(_LABELS)), min_size=1, max_size=8))
def test_every_mention_lands_in_exactly_one_entity_with_body_offsets(picks: list[tuple[str, str]]) -> None:
    body = " and ".join(name for name, _ in picks) + " ."
    entities = extract_entities(_doc(body, picks))
    spans = [(m.start, m.end) for e in entities for m in e.mentions]
    assert sorted(spans) == sorted(set(spans))
    assert len(spans) == len(picks)
    assert all(body[m.start : m.end] == m.text for e in entities for m in e.mentions)
    assert all(e.count == len(e.mentions) and e.first_start == e.mentions[0].start for e in entities)


# --- headline ---------------------------------------------------------------------------------------


def test_capitalised_headline_matches_names_without_case() -> None:
    doc = _doc("Joe Biden visited Paris.", [("Joe Biden", "PERSON"), ("Paris", "GPE")])
    flags = {e.name: e.in_headline for e in extract_entities(doc, headline="JOE BIDEN VISITS FRANCE")}
    assert flags == {"Joe Biden": True, "Paris": False}


def test_headline_matches_a_mention_form_seen_in_the_body() -> None:
    doc = _doc("Joe Biden spoke. Biden left.", [("Joe Biden", "PERSON"), ("Biden", "PERSON")])
    [entity] = extract_entities(doc, headline="BIDEN SAYS NO")
    assert entity.in_headline


def test_headline_matches_an_alias_the_body_did_not_use() -> None:
    doc = _doc("The United States agreed.", [("United States", "GPE")])
    [entity] = extract_entities(doc, headline="U.S. agrees to talks")
    assert entity.in_headline


def test_short_acronym_does_not_match_an_ordinary_word_in_a_mixed_case_headline() -> None:
    doc = _doc("The US agreed.", [("US", "GPE")])
    [entity] = extract_entities(doc, headline="Leaders tell us nothing")
    assert not entity.in_headline


# --- lookup and keys --------------------------------------------------------------------------------


def test_entity_for_span_finds_the_mention_a_speaker_span_overlaps() -> None:
    body = "President Joe Biden said. Paris agreed."
    entities = extract_entities(_doc(body, [("Joe Biden", "PERSON"), ("Paris", "GPE")]))
    assert entity_for_span(entities, 0, 19) is entities[0]  # "President Joe Biden" holds the mention
    assert entity_for_span(entities, 14, 19) is entities[0]  # "Biden" lies inside it
    assert entity_for_span(entities, 20, 24) is None
    assert entity_for_span(entities, 26, 31, labels={"PERSON"}) is None


def test_canonical_key_ignores_titles_possessives_periods_and_maps_aliases() -> None:
    assert canonical_key("President Biden's", "PERSON") == ("PERSON", "biden", "Biden")
    assert canonical_key("U.S.", "GPE") == ("GPE", "united states", "United States")


def test_alias_table_is_read_from_data_not_code() -> None:
    table = AliasTable.from_toml('[[alias]]\ncanonical = "Freedonia"\nlabel = "GPE"\nvariants = ["FRD"]\n')
    [entity] = extract_entities(
        _doc("FRD and Freedonia.", [("FRD", "ORG"), ("Freedonia", "GPE")]), aliases=table
    )
    assert (entity.id, entity.count) == ("GPE:freedonia", 2)


def test_packaged_alias_file_parses_with_every_section() -> None:
    table = load_aliases()
    assert table.person_titles and table.org_suffixes and table.acronym_stopwords
    assert table.aliases["uk"] == ("United Kingdom", "GPE")


# --- article parts: headline, dateline, byline --------------------------------------------------------


def _where(entity: Entity) -> list[tuple[str, str]]:
    return [(m.part, m.text) for m in entity.mentions]


def test_dateline_place_pieces_are_place_mentions_in_the_dateline() -> None:
    """In "VENICE , Italy 1996-08-31", VENICE and Italy are places with offsets into the dateline text."""
    dateline = Dateline(text="VENICE , Italy 1996-08-31", place="VENICE , Italy", date="1996-08-31")
    doc = _doc("The festival in Venice opened.", [("Venice", "GPE")])
    entities = {e.name: e for e in extract_entities(doc, dateline=dateline)}
    assert _where(entities["Venice"]) == [("dateline", "VENICE"), ("body", "Venice")]
    assert _where(entities["Italy"]) == [("dateline", "Italy")]
    italy = entities["Italy"].mentions[0]
    assert dateline.text[italy.start : italy.end] == "Italy"
    assert entities["Italy"].label == "GPE"


def test_byline_names_are_people_in_the_byline() -> None:
    """In "By Jane Doe and John Roe, Reuters" two people have byline offsets; the agency is no person."""
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
    """ "SOCCER - JAPAN GET LUCKY WIN , CHINA ...": Japan and China are found in it from the body's names."""
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
