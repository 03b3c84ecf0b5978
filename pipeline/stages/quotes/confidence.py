"""How sure a quote is: the evidence extraction had for it, and the calibrated model that turns it into a
``confidence`` between 0 and 1.

``evidence`` describes one found quote in a few coarse, general terms known at extraction time: its kind,
how its attribution was found (a speech verb after or before it, "according to", a colon, a signing dash,
a belief verb, a noun of saying, none), what kind of speaker it names, and its length, parts and distance
from the cue. ``ConfidenceModel`` is a logistic regression over one-hot features of that evidence; its
weights are data (``pipeline/data/quote_confidence.json``), fitted and cross-validated on the PolNeAR
development split by ``eval/calibrate_quotes.py``, which documents what "correct" means. At run time a
confidence is a sum of a few weights and a sigmoid.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from pipeline.stages.quotes.speakers import PERSON_PRONOUNS
from pipeline.stages.quotes.text import Found, Text
from pipeline.stages.quotes.verbs import load_verbs
from schemas.records import Quote

MODEL_FILE = "quote_confidence.json"
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_DASHES = frozenset("-–—")
# Coarse bins: a handful of values per feature keeps the model small enough for ~7,000 labelled quotes.
_WORD_BINS = ((3, "1-3"), (7, "4-7"), (15, "8-15"), (30, "16-30"))
_DISTANCE_BINS = ((0, "0"), (3, "1-3"), (8, "4-8"))


@dataclass(frozen=True)
class Evidence:
    """What extraction knew about one quote, in coarse categories (the model's only inputs)."""

    kind: str  # direct, mixed, indirect
    cue: str  # how the attribution was found, e.g. "speech_after", "according", "colon", "none"
    speaker: str  # person, org, name, noun, pronoun, pronoun_resolved, none
    words: str  # length bin in words
    parts: str  # "1", or "2+" when an attribution splits the quote or it runs over paragraphs
    distance: str  # words between cue and quote, binned; "-" without a cue


def _bin(value: int, bins: tuple[tuple[int, str], ...]) -> str:
    for upper, name in bins:
        if value <= upper:
            return name
    return f"{bins[-1][0] + 1}+"


def _cue(item: Found) -> str:
    """How the attribution was found: the cue's class and, for verbs, on which side of the quote it stands."""
    cue = item.cue
    if cue is None:
        return "none"  # nothing in its sentence: the speaker, if any, is the previous quote's
    if item.verb is None:
        return "evaluation"  # "is expected to": the writer's own evaluation, no source in the text
    if item.verb == "according to":
        return "according"
    if cue.text == ":":
        return "colon"
    if cue.text[:1] in _DASHES:
        return "dash"
    if cue.pos_ == "NOUN":
        return "noun"  # "the claim that ..."
    lexicon = load_verbs()
    lemma = cue.lemma_.lower()
    if lemma in lexicon.speech or lemma in lexicon.phrasal:
        klass = "speech"
    elif lemma in lexicon.naming:
        klass = "naming"
    elif lemma in lexicon.report:
        klass = "belief"  # believe, expect, hope: reported thought rather than speech
    else:
        klass = "verb"  # a plain verb before a colon ("Kasich resisted: “...”")
    side = "before" if cue.idx < item.spans[0][0] else "after"
    return f"{klass}_{side}"


def _speaker(tx: Text, item: Found) -> str:
    speaker = item.speaker
    if speaker is None:
        return "none"
    head = tx.doc[speaker.head]
    if head.pos_ == "PRON" or head.lower_ in PERSON_PRONOUNS:
        return "pronoun_resolved" if speaker.entity_id else "pronoun"
    if speaker.entity_id:
        return "person" if speaker.entity_id.startswith("PERSON:") else "org"
    return "name" if head.pos_ == "PROPN" else "noun"


def _distance(tx: Text, item: Found) -> str:
    """Words between the cue and the nearest edge of the quote."""
    if item.cue is None:
        return "-"
    at = item.cue.idx
    first, last = item.spans[0][0], item.spans[-1][1]
    if first <= at < last:
        return "0"  # inside a split quote: "“A,” said X, “B.”"
    between = tx.text[at:first] if at < first else tx.text[last:at]
    return _bin(len(_WORD.findall(between)) - (1 if at < first else 0), _DISTANCE_BINS)


def evidence(tx: Text, item: Found) -> Evidence:
    """The evidence of one found quote, its speaker resolved."""
    words = sum(len(_WORD.findall(tx.text[s:e])) for s, e in item.spans)
    many = len(item.spans) > 1 or item.paragraph_end > item.paragraph
    return Evidence(
        kind=item.kind,
        cue=_cue(item),
        speaker=_speaker(tx, item),
        words=_bin(words, _WORD_BINS),
        parts="2+" if many else "1",
        distance=_distance(tx, item),
    )


def features(ev: Evidence, templates: Iterable[str]) -> list[str]:
    """One-hot feature names of ``ev``: a template is a field or fields joined by ``*`` (an interaction)."""
    values = {
        "kind": ev.kind,
        "cue": ev.cue,
        "speaker": ev.speaker,
        "words": ev.words,
        "parts": ev.parts,
        "distance": ev.distance,
    }
    return [f"{t}={'|'.join(values[f] for f in t.split('*'))}" for t in templates]


@dataclass(frozen=True)
class ConfidenceModel:
    """A logistic regression over one-hot features of ``Evidence``; unseen feature values weigh nothing."""

    templates: tuple[str, ...]
    intercept: float
    weights: Mapping[str, float]

    def __call__(self, ev: Evidence) -> float:
        """The probability that the quote is right (its text an attribution of the article, its speaker
        the right one), rounded to three places."""
        z = self.intercept + sum(self.weights.get(f, 0.0) for f in features(ev, self.templates))
        return round(1.0 / (1.0 + math.exp(-z)), 3)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfidenceModel:
        """The model stored by ``eval/calibrate_quotes.py``."""
        return cls(
            templates=tuple(data["templates"]),
            intercept=float(data["intercept"]),
            weights={str(k): float(v) for k, v in data["weights"].items()},
        )


@lru_cache(maxsize=1)
def load_confidence() -> ConfidenceModel:
    """The packaged model (``pipeline/data/quote_confidence.json``), read once per process."""
    text = resources.files("pipeline").joinpath("data").joinpath(MODEL_FILE).read_text("utf-8")
    return ConfidenceModel.from_dict(json.loads(text))


def confident(quotes: list[Quote], minimum: float) -> list[Quote]:
    """The quotes whose confidence reaches ``minimum``, in order (all of them at 0). A quote without a
    confidence (none comes from ``extract_quotes``) is kept: nothing says it is unsure."""
    if minimum <= 0:
        return quotes
    return [q for q in quotes if q.confidence is None or q.confidence >= minimum]
