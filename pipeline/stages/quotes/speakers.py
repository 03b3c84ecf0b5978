"""Speakers: the subject of an attribution verb, the mention as written, and its canonical entity."""

from __future__ import annotations

from dataclasses import dataclass

from spacy.tokens import Doc, Token

from pipeline.stages.entities.groups import entity_for_span
from schemas.records import Entity

PERSON_PRONOUNS = frozenset({"he", "she", "him", "her"})
THING_PRONOUNS = frozenset({"it"})
SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass"})
# Verbs that share the subject of the verb they hang from ("..., adding", "was quoted as saying").
_SHARED_SUBJECT_DEPS = frozenset({"conj", "advcl", "xcomp", "pcomp", "acl"})
_NOUN_POS = frozenset({"PROPN", "NOUN", "PRON"})
_MODIFIER_DEPS = frozenset({"det", "amod", "compound", "poss", "nummod", "nmod", "case"})
# The source noun of "according to a statement from X" is X, not the statement.
_SOURCE_NOUNS = frozenset(
    {
        "statement",
        "tweet",
        "post",
        "report",
        "release",
        "letter",
        "interview",
        "spokesman",
        "spokeswoman",
        "spokesperson",
        "memo",
        "email",
        "message",
        "filing",
        "transcript",
        "video",
        "op-ed",
        "column",
    }
)
_SPEAKER_LABELS = frozenset({"PERSON", "ORG", "NORP", "GPE"})


@dataclass(frozen=True)
class Speaker:
    """Who said it: the mention as written, and the canonical name and entity when known."""

    name: str
    start: int
    end: int
    entity_id: str | None
    head: int  # token index of the mention's head


def subject_of(verb: Token, blocked: set[int]) -> Token | None:
    """The subject of ``verb``, climbing to the verb it depends on when it has none of its own.

    Tokens in ``blocked`` (quoted text) are never subjects: a parse that takes a speaker from
    inside the quote is wrong.
    """
    head = verb
    for _ in range(4):
        for child in head.children:
            if child.dep_ in SUBJECT_DEPS and child.i not in blocked:
                if child.tag_ in ("WP", "WDT") and head.dep_ == "relcl":
                    return head.head  # "Smith, who said ..." -> Smith
                return child
        # "issued a statement saying": past the noun to the verb that has the subject
        shared = head.dep_ in _SHARED_SUBJECT_DEPS or head.pos_ not in ("VERB", "AUX")
        if shared and head.head.i != head.i:
            head = head.head
        else:
            break
    return None


def nearest_nominal(doc: Doc, verb: Token, lo: int, hi: int, blocked: set[int]) -> Token | None:
    """A noun next to ``verb`` within tokens ``[lo, hi)``: the fallback when the parse gives no subject.

    The noun before the verb comes first: after it stands the addressee ("told The New Region").
    """
    for i in range(verb.i - 1, max(lo, verb.i - 12) - 1, -1):
        tok = doc[i]
        if i in blocked or tok.is_punct:
            break
        if tok.pos_ in _NOUN_POS:
            return _phrase_head(tok)
    if verb.lemma_ == "tell":
        return None
    for i in range(verb.i + 1, min(hi, verb.i + 6)):
        tok = doc[i]
        if i in blocked or tok.is_punct or tok.pos_ == "ADP":
            break
        if tok.pos_ in _NOUN_POS:
            return _phrase_head(tok)
    return None


def _phrase_head(tok: Token) -> Token:
    while tok.dep_ in ("compound", "flat") and tok.head.i != tok.i:
        tok = tok.head
    return tok


def according_to_source(according: Token) -> Token | None:
    """The source of "according to X": X, or the Y of "according to a statement from Y"."""
    for prep in according.children:
        if prep.lower_ != "to":
            continue
        for obj in prep.children:
            if obj.dep_ != "pobj":
                continue
            if obj.lemma_.lower() in _SOURCE_NOUNS:
                for sub in obj.children:
                    if sub.dep_ == "prep" and sub.lower_ in ("from", "by", "of"):
                        for inner in sub.children:
                            if inner.dep_ == "pobj":
                                return inner
            return obj
    return None


def mention_span(doc: Doc, head: Token) -> tuple[int, int]:
    """Character span of the speaker mention around ``head``: the name, or the noun with its modifiers."""
    if head.ent_iob_ in ("B", "I") and head.ent_type_ in _SPEAKER_LABELS:
        for ent in doc.ents:
            if ent.start <= head.i < ent.end:
                return ent.start_char, ent.end_char
    if head.pos_ == "PRON":
        return head.idx, head.idx + len(head.text)
    first = head.i
    last = head.i
    if head.pos_ == "PROPN":
        while first > 0 and doc[first - 1].pos_ == "PROPN" and doc[first - 1].head.i in (head.i, first):
            first -= 1
        while last + 1 < len(doc) and doc[last + 1].pos_ == "PROPN" and doc[last + 1].head.i == head.i:
            last += 1
    else:
        for child in head.lefts:
            if child.dep_ in _MODIFIER_DEPS:
                first = min(first, child.left_edge.i)
    return doc[first].idx, doc[last].idx + len(doc[last].text)


def _canonical(entities: list[Entity], start: int, end: int) -> Entity | None:
    return entity_for_span(entities, start, end, labels=_SPEAKER_LABELS)


def speaker_for(doc: Doc, body: str, head: Token, entities: list[Entity], previous: list[Speaker]) -> Speaker:
    """The speaker whose mention is headed by ``head``; a pronoun resolves to an earlier named speaker.
    ``body`` is ``doc.text``, which spaCy would rebuild from every token on each access."""
    start, end = mention_span(doc, head)
    text = body[start:end]
    lower = head.lower_
    if head.pos_ == "PRON" or lower in PERSON_PRONOUNS:
        resolved = resolve_pronoun(doc, head, entities, previous)
        if resolved is not None:
            return Speaker(resolved.name, start, end, resolved.id, head.i)
        return Speaker(text, start, end, None, head.i)
    entity = _canonical(entities, head.idx, head.idx + len(head.text))
    if entity is not None:
        return Speaker(entity.name, start, end, entity.id, head.i)
    return Speaker(text, start, end, None, head.i)


def resolve_pronoun(
    doc: Doc, pronoun: Token, entities: list[Entity], previous: list[Speaker]
) -> Entity | None:
    """The nearest compatible named speaker before ``pronoun``: a person for he/she, an organisation for it.

    Candidates are earlier named speakers and entity mentions in subject position: the one closest
    before the pronoun wins, so "Kanaani denied that ... “...,” he said" finds Kanaani.
    """
    lower = pronoun.lower_
    if lower in PERSON_PRONOUNS:
        labels = {"PERSON"}
    elif lower in THING_PRONOUNS:
        labels = {"ORG"}
    else:
        return None
    best: tuple[int, Entity] | None = None
    by_id = {e.id: e for e in entities}
    for speaker in previous:
        entity = by_id.get(speaker.entity_id or "")
        usable = entity is not None and entity.label in labels and speaker.start < pronoun.idx
        if usable and entity is not None and (best is None or speaker.start > best[0]):
            best = (speaker.start, entity)
    for entity in entities:
        if entity.label not in labels:
            continue
        for mention in entity.mentions:
            if mention.start >= pronoun.idx or (best is not None and mention.start <= best[0]):
                continue
            span = doc.char_span(mention.start, mention.end, alignment_mode="expand")
            if span is not None and span.root.dep_ in SUBJECT_DEPS:
                best = (mention.start, entity)
    return best[1] if best is not None else None
