"""Reported speech: ``indirect`` quotes with no quote marks, from a speech or belief verb's clause, a noun
of saying ("the claim that ..."), "according to", or the writer's own evaluation ("is expected to").
"""

from __future__ import annotations

from spacy.tokens import Doc, Token

from pipeline.stages.quotes.speakers import SUBJECT_DEPS, according_to_source, subject_of
from pipeline.stages.quotes.text import Found, Text, words_in
from pipeline.stages.quotes.verbs import VerbLexicon, is_cue, load_verbs

_REPORTING_PREPOSITIONS = frozenset({"about", "for", "against", "of"})
_WHEN_LABELS = frozenset({"DATE", "TIME"})
_APPEARANCE_VERBS = frozenset({"appear", "seem", "look", "sound"})  # evaluative without the passive
_OBJECT_PREPOSITIONS = frozenset({"of", "for", "as"})
_CLAUSE_DEPS = frozenset({"ccomp", "xcomp", "dobj", "csubj"})
_PARENTHESIS_MARKS = frozenset({",", "—", "–", "-"})
# roots of words before a parenthetical attribution that set the scene rather than carry the content
_SCENE_DEPS = frozenset({"advmod", "prep", "npadvmod", "cc", "intj", "mark"})


def reported(tx: Text, used: set[int]) -> list[Found]:
    """Indirect quotes: the clause of a speech or belief verb (or "according to") with no quote marks."""
    doc = tx.doc
    lexicon = load_verbs()
    found: list[Found] = []
    for tok in doc:
        if tok.i in tx.blocked or tok.i in used:
            continue
        pieces: list[tuple[int, int]] = []
        verb = tok.text
        if tok.lower_ == "according" and is_cue(tok, lexicon.report):
            sent = tok.sent
            phrase = [t.i for t in tok.subtree]
            lo, hi = min(phrase), max(phrase)
            # the reported clause is the longer side of the phrase
            pieces = [(sent.start, lo) if lo - sent.start > sent.end - 1 - hi else (hi + 1, sent.end)]
            verb = "according to"
        elif tok.pos_ in ("VERB", "AUX") and tok.lemma_.lower() in lexicon.evidential and _evaluated(tok):
            pieces = _evaluated(tok)
            verb = ""  # the writer's own evaluation: no speaker in the text
        elif tok.pos_ == "VERB" and tok.lemma_.lower() in lexicon.report:
            pieces = _clause_of(tok, lexicon)
        elif tok.pos_ == "NOUN" and tok.lemma_.lower() in lexicon.nouns:
            pieces = _noun_content(tok, lexicon.nouns[tok.lemma_.lower()])
        subject = None
        for piece in pieces:
            content = _trim_tokens(doc, *piece)
            if content is None or any(i in tx.blocked for i in range(*content)):
                continue
            start = doc[content[0]].idx
            end = doc[content[1] - 1].idx + len(doc[content[1] - 1].text)
            if subject is None and verb:
                subject = according_to_source(tok) if verb == "according to" else _source_of(tok, tx.blocked)
            found.append(
                Found([(start, end)], tx.paragraph_of(start), "indirect", start, tok, verb or None, subject)
            )
    return found


def _clause_of(verb: Token, lexicon: VerbLexicon) -> list[tuple[int, int]]:
    """Token ranges of what ``verb`` reports: its clause, infinitive or object; or the sentence around it."""
    lemma = verb.lemma_.lower()
    for child in verb.children:
        if child.dep_ == "ccomp" or (child.dep_ == "xcomp" and lemma in lexicon.with_infinitive):
            return [(child.left_edge.i, child.right_edge.i + 1)]
    for child in verb.children:
        if child.dep_ == "dobj" and lemma in lexicon.with_object:
            # "accused Trump of lying", "called him a liar": the object with what is said of it
            last = max(
                [child.right_edge.i]
                + [c.right_edge.i for c in verb.rights if c.i > child.i and _says_of_object(c)]
            )
            return [(child.left_edge.i, last + 1)]
    if lemma in lexicon.with_preposition:
        for child in verb.children:
            if child.dep_ == "prep" and child.lower_ in lexicon.prepositions.get(
                lemma, _REPORTING_PREPOSITIONS
            ):
                obj = next((c for c in child.children if c.dep_ in ("pobj", "pcomp")), None)
                if obj is not None:
                    return [(obj.left_edge.i, obj.right_edge.i + 1)]
    if lemma in lexicon.speech:
        return _around_parenthetical(verb)
    return []


def _noun_content(noun: Token, prepositions: frozenset[str]) -> list[tuple[int, int]]:
    """What a noun of saying reports: "the claim that ...", "questions about X", "a promise to ..."."""
    for child in noun.rights:
        if (
            child.dep_ in ("acl", "ccomp", "relcl")
            and child.left_edge.lower_ == "that"
            and child.left_edge.dep_ == "mark"
        ):
            return [(child.left_edge.i, child.right_edge.i + 1)]
        if (
            child.dep_ == "acl"
            and "to" in prepositions
            and any(c.dep_ == "aux" and c.lower_ == "to" for c in child.children)
        ):
            return [(child.left_edge.i, child.right_edge.i + 1)]
        if child.dep_ == "prep" and child.lower_ in prepositions:
            obj = next((c for c in child.children if c.dep_ in ("pobj", "pcomp")), None)
            if obj is not None and obj.ent_type_ not in _WHEN_LABELS:  # "a statement on Sunday"
                return [(obj.left_edge.i, obj.right_edge.i + 1)]
    return []


def _source_of(cue: Token, blocked: set[int]) -> Token | None:
    """Who a cue reports: a verb's subject; a noun's owner ("Kerry's claim") or its verb's subject."""
    if cue.pos_ == "NOUN":
        owner = next((c for c in cue.children if c.dep_ == "poss"), None)
        if owner is not None and owner.pos_ != "PRON":
            return owner  # "his claim" is better told by the verb's subject, a name
        if cue.dep_ not in ("dobj", "pobj", "attr"):
            return None
    return subject_of(cue, blocked)


def _evaluated(verb: Token) -> list[tuple[int, int]]:
    """ "They appear to be unanimous", "Trump is expected to win": the subject, and what is said of it."""
    passive = any(c.dep_ == "auxpass" for c in verb.children)
    subject = next((c for c in verb.children if c.dep_ == ("nsubjpass" if passive else "nsubj")), None)
    said = next((c for c in verb.rights if c.dep_ in ("xcomp", "oprd", "acomp", "attr")), None)
    if said is None:
        said = next((c for c in verb.rights if c.dep_ == "prep" and c.lower_ == "as"), None)
        said = next((c for c in said.children if c.dep_ == "pobj"), None) if said is not None else None
    if subject is None or said is None or (verb.lemma_.lower() not in _APPEARANCE_VERBS and not passive):
        return []
    return [(subject.left_edge.i, subject.right_edge.i + 1), (said.left_edge.i, said.right_edge.i + 1)]


def _says_of_object(child: Token) -> bool:
    return child.dep_ in ("oprd", "xcomp", "acomp") or (
        child.dep_ == "prep" and child.lower_ in _OBJECT_PREPOSITIONS
    )


def _around_parenthetical(verb: Token) -> list[tuple[int, int]]:
    """ "The goal, he said, is a truce." / "A truce is near, he said.": the sentence around the attribution.

    The attribution (subject, verb and its trailing modifiers) must stand between commas or end the
    sentence; a part before it that only sets the scene ("After all,") is not what was said.
    """
    if verb.dep_ not in ("parataxis", "ccomp", "ROOT") or any(c.dep_ in _CLAUSE_DEPS for c in verb.children):
        return []
    doc = verb.doc
    subject = next((c for c in verb.children if c.dep_ in SUBJECT_DEPS), None)
    if subject is None or subject.i > verb.i:
        return []
    lo = subject.left_edge.i
    hi = max([verb.i] + [c.right_edge.i for c in verb.rights if not c.is_punct and c.dep_ != "cc"])
    sent = verb.sent
    pieces = []
    if lo > sent.start:
        if doc[lo - 1].text not in _PARENTHESIS_MARKS:
            return []
        before = doc[sent.start : lo - 1]
        roots = [t for t in before if not sent.start <= t.head.i < lo - 1 or t.head.i == t.i]
        if not all(t.dep_ in _SCENE_DEPS or t.is_punct for t in roots):
            pieces.append((sent.start, lo - 1))
    if hi + 1 < sent.end and doc[hi + 1].text in _PARENTHESIS_MARKS:
        pieces.append((hi + 2, sent.end))
    elif hi + 1 < sent.end and not doc[hi + 1].is_punct:
        return []
    return pieces


def _trim_tokens(doc: Doc, first: int, last: int) -> tuple[int, int] | None:
    while first < last and (doc[first].is_punct or doc[first].is_space):
        first += 1
    while last > first and (doc[last - 1].is_punct or doc[last - 1].is_space):
        last -= 1
    if not words_in(doc, first, last):
        return None
    return first, last
