"""The entity-span trimmer: a spaCy component after ``ner`` that repairs the model's spans.

``load_nlp`` (``stages/analysis/model.py``) adds it to the pipeline it loads; ``trim_entity_spans``
applies it to a doc built some other way.
"""

from __future__ import annotations

import re
from collections import Counter

from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from pipeline.stages.entities.groups import ALPHA, NUMERIC_LABELS
from pipeline.stages.entities.keys import LEADING_WORDS

#: The registered name of the component that trims entity spans (see ``trim_entity_spans``).
TRIM_COMPONENT = "wirepipe_entity_trim"

_POSSESSIVES = frozenset({"'s", "’s", "'", "’"})
_NUMBER = re.compile(r"[\d.,:/-]+")
_SEPARATORS = frozenset({"-", "–", "—", "v", "v.", "vs", "vs."})
_BRACKETS = frozenset("()[]")
_NO_TRAILING_NUMBER = frozenset({"PERSON", "GPE", "LOC", "NORP"})


@Language.factory(TRIM_COMPONENT, default_config={"split": True, "propagate": True})
def make_entity_trimmer(
    nlp: Language,  # noqa: ARG001 - spaCy's factory signature
    name: str,  # noqa: ARG001 - same
    *,
    split: bool,
    propagate: bool,
) -> EntityTrimmer:
    """spaCy factory for ``EntityTrimmer`` (its settings are the component's config)."""
    return EntityTrimmer(split=split, propagate=propagate)


class EntityTrimmer:
    """Repair the model's entity spans in place: trim, split, drop junk, then propagate names.

    - trim a leading "the", edge punctuation and a possessive "'s" (OntoNotes-trained models put "the"
      inside names, "the United Nations"; a name is what later stages and consumers want);
    - trim trailing bare numbers off people and places ("Durham 114" in a results line);
    - ``split`` a span at a bracket, a free-standing dash or "v"/"vs" ("Romania - Cosmin Contra",
      "Natural Rubber Agreement (INRA"): two names;
    - drop spans that cross a line break, have no letter or no capital (proper names are capitalised;
      "senate", "methanol" are tagging accidents);
    - ``propagate``: a name the model found once is a name wherever else it occurs in the same doc
      (and a person's surname alone is that person), so later unlabelled occurrences get its label.
    """

    def __init__(self, *, split: bool = True, propagate: bool = True) -> None:
        self.split = split
        self.propagate = propagate

    def __call__(self, doc: Doc) -> Doc:
        kept: list[Span] = []
        for ent in doc.ents:
            if ent.label_ in NUMERIC_LABELS:
                kept.append(ent)
                continue
            for part in _split(ent) if self.split else [ent]:
                span = _trimmed(part)
                if span is not None:
                    kept.append(span)
        if self.propagate:
            kept = _propagate(doc, kept)
        doc.ents = kept
        return doc


def trim_entity_spans(doc: Doc) -> Doc:
    """Apply the default ``EntityTrimmer`` to ``doc`` (for docs built without ``load_nlp``)."""
    return EntityTrimmer()(doc)


def _split(ent: Span) -> list[Span]:
    doc = ent.doc
    parts: list[Span] = []
    start = ent.start
    for i in range(ent.start + 1, ent.end - 1):
        token = doc[i]
        if token.text in _BRACKETS or (
            token.lower_ in _SEPARATORS and token.whitespace_ and doc[i - 1].whitespace_
        ):
            parts.append(Span(doc, start, i, label=ent.label, kb_id=ent.kb_id))
            start = i + 1
    if not parts:
        return [ent]
    parts.append(Span(doc, start, ent.end, label=ent.label, kb_id=ent.kb_id))
    return parts


def _trimmed(ent: Span) -> Span | None:
    start, end = ent.start, ent.end
    doc = ent.doc
    while start < end and (doc[start].lower_ in LEADING_WORDS or doc[start].is_punct or doc[start].is_space):
        start += 1
    while start < end and (
        doc[end - 1].lower_ in _POSSESSIVES
        or doc[end - 1].is_punct
        or doc[end - 1].is_space
        or (ent.label_ in _NO_TRAILING_NUMBER and _NUMBER.fullmatch(doc[end - 1].text) is not None)
    ):
        end -= 1
    if start >= end:
        return None
    span = Span(doc, start, end, label=ent.label, kb_id=ent.kb_id)
    if "\n" in span.text or not ALPHA.search(span.text) or span.text.islower():
        return None
    return span


def _propagate(doc: Doc, ents: list[Span]) -> list[Span]:
    """Label unlabelled occurrences of names found elsewhere in ``doc`` with their majority label."""
    votes: dict[tuple[str, ...], Counter[str]] = {}
    for ent in ents:
        if ent.label_ in NUMERIC_LABELS:
            continue
        words = tuple(t.text for t in ent)
        votes.setdefault(words, Counter())[ent.label_] += 1
        last = ent[-1]
        if ent.label_ == "PERSON" and len(ent) > 1 and last.is_title and len(last.text) > 2:
            # A zero vote: the surname is a PERSON form unless the model itself labelled it otherwise.
            votes.setdefault((last.text,), Counter())["PERSON"] += 0
    forms = {words: c.most_common(1)[0][0] for words, c in votes.items() if _propagatable(words)}
    if not forms:
        return ents
    taken = [False] * len(doc)
    for ent in ents:
        for i in range(ent.start, ent.end):
            taken[i] = True
    # the sizes of the forms by their first word, longest first: most words start no form at all
    lengths: dict[str, set[int]] = {}
    for form in forms:
        lengths.setdefault(form[0], set()).add(len(form))
    sizes = {first: sorted(found, reverse=True) for first, found in lengths.items()}
    texts = [t.text for t in doc]
    added: list[Span] = []
    i = 0
    while i < len(doc):
        match = None
        for size in sizes.get(texts[i], ()):
            if size > len(doc) - i:
                continue
            words = tuple(texts[i : i + size])
            if words in forms and not any(taken[i : i + size]) and _stands_alone(doc, i, i + size):
                match = Span(doc, i, i + size, label=forms[words])
                break
        if match is None:
            i += 1
            continue
        added.append(match)
        i = match.end
    return sorted([*ents, *added], key=lambda s: s.start) if added else ents


def _propagatable(words: tuple[str, ...]) -> bool:
    text = " ".join(words)
    # Single capitalised short words and all-capital lines repeat as ordinary words too often.
    return len(text) > 2 and words[0][:1].isupper() and not text.isupper()


def _stands_alone(doc: Doc, start: int, end: int) -> bool:
    """No capitalised word glued on either side, so the match is not part of a longer name.

    A capitalised word that starts its sentence ("Later Tarango lost") does not count.
    """
    if end < len(doc) and _capitalised(doc[end]):
        return False
    return not (start > 0 and _capitalised(doc[start - 1]) and not _starts_sentence(doc, start - 1))


def _capitalised(token: Token) -> bool:
    return token.is_alpha and token.text[:1].isupper()


def _starts_sentence(doc: Doc, i: int) -> bool:
    if doc.has_annotation("SENT_START"):
        return bool(doc[i].is_sent_start)
    return i == 0 or doc[i - 1].is_space or doc[i - 1].text in {".", "!", "?"}
