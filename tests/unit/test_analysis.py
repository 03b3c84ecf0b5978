"""Selective analysis: what is parsed, that what is parsed is the full pipeline's, and the cached components.

Loads the pipeline's model once (about 2 s); the rest is a few short bodies.
"""

from __future__ import annotations

import numpy as np
import pytest
from spacy.attrs import DEP, ENT_IOB, ENT_TYPE, HEAD, LEMMA, MORPH, POS, SENT_START, TAG
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.settings import Settings
from pipeline.stages.analysis import SelectiveAnalysis, load_nlp
from pipeline.stages.analysis.cache import CachedAttributeRuler, CachedLemmatizer
from pipeline.stages.analysis.transitions import GreedyTransitions, stepped
from pipeline.stages.entities import extract_entities
from pipeline.stages.quotes import extract_quotes
from schemas.records import Paragraph

_ATTRS: list[int | str] = [TAG, POS, MORPH, LEMMA, DEP, HEAD]

# Long sentences with no verb or noun of saying, no quote marks and no "according to".
_PLAIN_A = (
    "The river rose by three metres overnight and flooded the lower streets of the old market town "
    "near the bridge."
)
_PLAIN_B = (
    "Heavy rain fell across the northern hills for most of the week and the roads to the valley "
    "were closed to all traffic."
)
_PLAIN_C = (
    "Farmers moved their cattle to higher ground on Tuesday while volunteers filled sandbags outside "
    "the town hall until late."
)
_CUE = "Mayor Anna Berg said the dam had held."


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_nlp(Settings().spacy_model)


@pytest.fixture(scope="module")
def analysis(nlp: Language) -> SelectiveAnalysis:
    return SelectiveAnalysis(nlp)


def _body(paragraphs: list[str]) -> tuple[str, list[Paragraph]]:
    """Paragraphs joined by blank lines, and their offsets."""
    offsets, pos = [], 0
    for text in paragraphs:
        offsets.append(Paragraph(start=pos, end=pos + len(text)))
        pos += len(text) + 2
    return "\n\n".join(paragraphs), offsets


def _sentence(doc: Doc, text: str) -> list[int]:
    start = doc.text.index(text)
    span = doc.char_span(start, start + len(text))
    assert span is not None
    return list(range(span.start, span.end))


def _parsed(doc: Doc, tokens: list[int]) -> bool:
    """Whether the tokens carry a parse (tags and dependency labels), not spaCy's missing values."""
    return all(doc[i].tag_ and doc[i].dep_ for i in tokens)


def _unparsed(doc: Doc, tokens: list[int]) -> bool:
    return all(not doc[i].tag_ and not doc[i].dep_ and doc[i].head.i == i for i in tokens)


def test_a_sentence_without_an_attribution_cue_is_not_parsed(analysis: SelectiveAnalysis) -> None:
    body = " ".join([_PLAIN_A, _CUE, _PLAIN_B, _PLAIN_C])
    doc = analysis(body)
    assert _parsed(doc, _sentence(doc, _CUE))
    for plain in (_PLAIN_A, _PLAIN_B, _PLAIN_C):
        assert _unparsed(doc, _sentence(doc, plain))
    coverage = analysis.last_coverage[0]
    assert (coverage.sentences, coverage.parsed_sentences) == (4, 1)
    assert coverage.parsed_tokens == len(_sentence(doc, _CUE))


def test_a_body_with_no_cue_gets_entities_and_sentences_but_no_parse(
    nlp: Language, analysis: SelectiveAnalysis
) -> None:
    body = " ".join([_PLAIN_A, _PLAIN_B, "Officials in Geneva and Paris met on Friday."])
    doc, full = analysis(body), nlp(body)
    assert _unparsed(doc, list(range(len(doc))))
    assert [(e.start, e.end, e.label_) for e in doc.ents] == [(e.start, e.end, e.label_) for e in full.ents]
    assert len(list(doc.sents)) == 3
    assert not extract_quotes(doc, [], extract_entities(doc))


def test_a_quote_gets_the_sentences_either_side_where_its_speaker_may_stand(
    nlp: Language, analysis: SelectiveAnalysis
) -> None:
    """The speaker of a quote with no cue of its own is often named in the sentence before or after."""
    before = "The mayor of Lund, Anna Berg, stood on the steps of the town hall on Monday morning."
    quote = "“We will rebuild every bridge in this valley before the winter comes.”"
    after = "Her voice was steady and the crowd in the square below clapped for a long time."
    body, offsets = _body([_PLAIN_A, _PLAIN_B, before, quote, after, _PLAIN_C])
    doc = analysis(body, offsets)
    for neighbour in (before, quote, after):
        assert _parsed(doc, _sentence(doc, neighbour))
    for far in (_PLAIN_A, _PLAIN_C):
        assert _unparsed(doc, _sentence(doc, far))
    full = nlp(body)
    for neighbour in (before, quote, after):
        for i in _sentence(doc, neighbour):
            assert (doc[i].tag_, doc[i].dep_, doc[i].head.i, doc[i].lemma_) == (
                full[i].tag_,
                full[i].dep_,
                full[i].head.i,
                full[i].lemma_,
            )
    assert extract_quotes(doc, offsets, extract_entities(doc)) == extract_quotes(
        full, offsets, extract_entities(full)
    )


def test_inflections_of_listed_verbs_and_nouns_are_cues_and_other_words_are_not(
    analysis: SelectiveAnalysis,
) -> None:
    cues = analysis.cues
    strings = analysis.nlp.vocab.strings
    for form in ("said", "says", "saying", "told", "Claimed", "statements", "denies"):
        assert cues.is_cue(strings.add(form.lower())), form
    for form in ("river", "rose", "bridge", "the", "quickly"):
        assert not cues.is_cue(strings.add(form)), form
    lowers = np.asarray(
        [strings.add(w) for w in ("prices", "rose", "according", "to", "data")], dtype=np.uint64
    )
    assert cues.tokens(lowers).tolist() == [False, False, True, False, False]


def test_the_selective_parse_equals_the_full_pipeline_where_it_parses(
    nlp: Language, analysis: SelectiveAnalysis
) -> None:
    """Stretches parsed on their own, with tok2vec padding, get the whole body's parse and entities."""
    paragraphs = [
        _PLAIN_A,
        "“The water is still rising,” Lars Holm, a spokesman for the county police, told reporters "
        "in Malmo on Wednesday.",
        _PLAIN_B,
        _PLAIN_C,
        "According to the weather service, more rain is expected on Friday, and officials said "
        "schools in Lund would stay shut.",
        _PLAIN_A,
    ]
    body, offsets = _body(paragraphs)
    docs = list(analysis.pipe([(body, offsets), (body.upper(), offsets)]))
    for doc, text in zip(docs, (body, body.upper()), strict=True):
        full = nlp(text)
        assert [t.text for t in doc] == [t.text for t in full]
        assert [(e.start, e.end, e.label_) for e in doc.ents] == [
            (e.start, e.end, e.label_) for e in full.ents
        ]
        parsed = [i for i, t in enumerate(doc) if t.dep_]
        assert parsed and len(parsed) < len(doc)
        ours, theirs = doc.to_array(_ATTRS)[parsed], full.to_array(_ATTRS)[parsed]
        assert (ours == theirs).all()


def _tagged(nlp: Language, texts: list[str]) -> list[Doc]:
    """Docs as the pipeline has them when the attribute ruler runs: tagged and parsed."""
    with nlp.select_pipes(enable=["tok2vec", "tagger", "parser"]):
        return list(nlp.pipe(texts))


def test_the_cached_ruler_and_lemmatizer_equal_the_model_components(nlp: Language) -> None:
    """Token by token, on a first (cold) and second (warm) pass, including the multi-token rules."""
    texts = [
        "There is no way we are gonna let that happen, she said, and there's more to come.",
        "He didn't say whether the U.S. would've paid $3.5 million for the 12 F-16s it's ordered.",
        "Prices rose 3% in Dec. while the firm's shares fell; analysts expect a rebound, ain't they?",
        _PLAIN_A + " " + _CUE,
    ]
    ruler, lemmatizer = nlp.get_pipe("attribute_ruler"), nlp.get_pipe("lemmatizer")
    cached_ruler = CachedAttributeRuler(ruler, nlp.vocab)  # type: ignore[arg-type]
    cached_lemmatizer = CachedLemmatizer(lemmatizer, nlp.vocab)  # type: ignore[arg-type]
    expected = [lemmatizer(ruler(doc)).to_array(_ATTRS) for doc in _tagged(nlp, texts)]
    for _ in range(2):
        got = [cached_lemmatizer(cached_ruler(doc)).to_array(_ATTRS) for doc in _tagged(nlp, texts)]
        for ours, theirs in zip(got, expected, strict=True):
            assert (ours == theirs).all()


def test_the_cached_ruler_is_right_when_its_cache_starts_afresh_in_the_middle_of_a_doc(
    nlp: Language, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache that fills while a Doc's new tokens are learnt is emptied; the Doc still gets the ruler's
    outcome for every token, the ones it already knew included."""
    monkeypatch.setattr("pipeline.stages.analysis.cache.MAX_ENTRIES", 8)
    ruler = nlp.get_pipe("attribute_ruler")
    cached_ruler = CachedAttributeRuler(ruler, nlp.vocab)  # type: ignore[arg-type]
    first, second = _tagged(nlp, ["The minister said so.", "The minister said the port would reopen soon."])
    expected = ruler(_tagged(nlp, [second.text])[0]).to_array(_ATTRS)
    cached_ruler(first)  # known now: the, minister, said, so, .
    assert (cached_ruler(second).to_array(_ATTRS) == expected).all()


def test_the_selective_parse_setting_is_on_by_default_and_can_be_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().selective_parse is True
    monkeypatch.setenv("WIREPIPE_SELECTIVE_PARSE", "false")
    assert Settings().selective_parse is False


def test_the_running_total_adds_up_what_each_body_parsed(nlp: Language) -> None:
    """`wirepipe enrich` reports the parsed share from a total that sums every body's own coverage."""
    fresh = SelectiveAnalysis(nlp)
    bodies = [_body([_PLAIN_A, _PLAIN_B, _PLAIN_C, _PLAIN_A]), _body([_PLAIN_A, _CUE, _PLAIN_B])]
    seen = []
    for body in bodies:
        fresh(*body)
        seen += fresh.last_coverage
    total = fresh.total
    assert total.tokens == sum(c.tokens for c in seen) and total.tokens > 0
    assert total.parsed_tokens == sum(c.parsed_tokens for c in seen)
    assert 0 < total.parsed_tokens < total.tokens  # the cue's stretch is parsed, the plain body is not
    shares = total.shares()
    assert shares["parsed_tokens_share"] == round(total.parsed_tokens / total.tokens, 4)


def _copies(nlp: Language, docs: list[Doc]) -> list[Doc]:
    return [Doc(nlp.vocab).from_bytes(doc.to_bytes()) for doc in docs]


@pytest.mark.parametrize(
    ("name", "attrs"), [("ner", [ENT_IOB, ENT_TYPE]), ("parser", [HEAD, DEP, SENT_START])]
)
def test_the_stepped_transition_loop_gives_the_components_own_entities_and_parse(
    nlp: Language, name: str, attrs: list[int | str]
) -> None:
    """ner and parser stepped from Python annotate a batch (short, long, empty docs) exactly as their pipe."""
    texts = [
        _PLAIN_A + " " + _CUE,
        "",
        "Berg.",
        "“The water is still rising,” Lars Holm of the county police told reporters in Malmo. " * 12,
        " ".join([_PLAIN_B, _CUE, _PLAIN_C, "UN envoy Kofi Annan met NATO chiefs in Brussels on 3 May."]),
    ]
    upstream = [n for n in nlp.pipe_names if n in ("tok2vec", "tagger")] if name == "parser" else []
    with nlp.select_pipes(enable=upstream):
        prepared = list(nlp.pipe(texts))
    component = nlp.get_pipe(name)
    expected = [doc.to_array(attrs) for doc in component.pipe(_copies(nlp, prepared), batch_size=8)]  # type: ignore[attr-defined]
    got = [
        doc.to_array(attrs) for doc in GreedyTransitions(component).pipe(_copies(nlp, prepared), batch_size=8)
    ]
    assert len(got) == len(expected) == len(texts)
    for ours, theirs in zip(got, expected, strict=True):
        assert (ours == theirs).all()
    assert any(len(e) for e in expected)


def test_only_transition_based_components_are_stepped(nlp: Language) -> None:
    """ner and parser get the stepped loop; the tagger and the trimmer are used as they are."""
    assert isinstance(stepped(nlp.get_pipe("ner")), GreedyTransitions)
    assert isinstance(stepped(nlp.get_pipe("parser")), GreedyTransitions)
    tagger = nlp.get_pipe("tagger")
    assert stepped(tagger) is tagger
