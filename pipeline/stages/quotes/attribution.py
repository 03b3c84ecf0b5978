"""Attributions of quoted stretches: which cue (a speech verb, "according to", a colon, a signing dash
line, a naming verb) introduces a quote, whether it stands before or after it, and who it names.

``attribute`` tries the frames around a stretch in order; the ``Attribution`` it returns also marks
which words of the frame are the attribution, so that the rest can make the quote mixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacy.tokens import Token

from pipeline.stages.quotes.speakers import SUBJECT_DEPS, according_to_source, nearest_nominal, subject_of
from pipeline.stages.quotes.text import MAX_TRAILING_FRAME, TERMINATORS, Text, words_in
from pipeline.stages.quotes.verbs import is_cue, load_verbs

# Children of the verb that carry what was said, not who said it or how.
_CONTENT_DEPS = frozenset({"ccomp", "xcomp", "parataxis", "conj", "advcl", "csubj"})
_DASHES = frozenset("-–—")
_MAX_DASH_LINE = 8  # "- Sen. Bernie Sanders." on a line of its own signs the quote above it


@dataclass
class Attribution:
    """The cue of a quote, the speaker it names and the attribution's words in the frame."""

    cue: Token  # the speech verb, or "according" of "according to"
    verb: str
    subject: Token | None
    chunk: tuple[int, int]  # token range [first, last] of the attribution words in the frame
    standalone: bool = False  # the quote is the speaker's words as they stand, never partial
    named: bool = False  # the quote names what the verb's object is: mixed, from the object on


def _attribution(tx: Text, cue: Token, frame: tuple[int, int]) -> Attribution:
    """Who the cue names as speaker, and which words of the frame belong to the attribution."""
    doc = tx.doc
    if cue.lower_ == "according":
        subject = according_to_source(cue)
        members = {t.i for t in cue.subtree}
        verb = "according to"
    else:
        subject = subject_of(cue, tx.blocked) or nearest_nominal(doc, cue, frame[0], frame[1], tx.blocked)
        members = {cue.i}
        for child in cue.children:
            if child.dep_ in _CONTENT_DEPS or any(t.i in tx.blocked for t in child.subtree):
                continue
            members.update(t.i for t in child.subtree)
        verb = cue.text
    # a subject between the cue and a following quote ("saying that if he “...”") is part of the content
    if subject is not None and (subject.i < cue.i or subject.i == cue.i + 1 or frame[0] > cue.i):
        members.update(t.i for t in subject.subtree if t.i not in tx.blocked)
    inside = [i for i in members if frame[0] <= i < frame[1]] or [cue.i]
    return Attribution(cue, verb, subject, (min(inside), max(inside)))


def _find_attribution(tx: Text, frame: tuple[int, int], *, after: bool, strict: bool) -> Attribution | None:
    """The attribution in a frame: the speech cue nearest the quote; a bare "Name:" before it."""
    doc = tx.doc
    verbs = load_verbs().speech
    order = range(frame[0], frame[1]) if after else range(frame[1] - 1, frame[0] - 1, -1)
    for i in order:
        tok = doc[i]
        if i in tx.blocked or not is_cue(tok, verbs):
            continue
        if strict and (
            frame[1] - frame[0] > MAX_TRAILING_FRAME
            or any(c.dep_ in ("ccomp", "xcomp") for c in tok.children)
        ):
            return None
        return _attribution(tx, tok, frame)
    if not after and frame[1] - frame[0] >= 2 and doc[frame[1] - 1].text == ":":
        return _colon_attribution(tx, frame)
    return None


def _colon_attribution(tx: Text, frame: tuple[int, int]) -> Attribution | None:
    """ "Kasich resisted: “...”" or "Trump issued this statement: “...”": the subject before the colon."""
    doc = tx.doc
    colon = frame[1] - 1
    for i in range(colon - 1, frame[0] - 1, -1):
        if doc[i].pos_ == "VERB" and i not in tx.blocked:
            subject = subject_of(doc[i], tx.blocked)
            if subject is not None:
                return Attribution(doc[i], doc[i].text, subject, (frame[0], colon))
    if colon - frame[0] <= 6:
        for i in range(colon - 1, frame[0] - 1, -1):
            if doc[i].pos_ == "PROPN" or (doc[i].pos_ == "NOUN" and i == colon - 1):
                return Attribution(doc[colon], ":", doc[i], (frame[0], colon))
    return None


def attribute(tx: Text, index: int) -> tuple[Attribution | None, bool]:
    """The attribution of stretch ``index`` and whether it follows the quote."""
    stretch = tx.stretches[index]
    text = tx.text[stretch.pieces[0][0] : stretch.pieces[-1][1]].rstrip()
    ends_sentence = text.endswith(".") or stretch.close_end is None
    after_frame, before_frame = tx.after_frame(index), tx.before_frame(index)
    if not ends_sentence:
        attribution = _find_attribution(tx, after_frame, after=True, strict=False)
        if attribution is not None:
            return attribution, True
    attribution = _find_attribution(tx, before_frame, after=False, strict=False)
    if attribution is not None:
        return attribution, False
    if ends_sentence:
        attribution = _find_attribution(tx, after_frame, after=True, strict=True)
        if attribution is not None:
            return attribution, True
    attribution = _colon_paragraph_attribution(tx, index) or _naming_attribution(tx, index)
    if attribution is not None:
        return attribution, False
    return _dash_line_attribution(tx, index), True


def _colon_paragraph_attribution(tx: Text, index: int) -> Attribution | None:
    """ "Reporter Jane Doe says:" ending the paragraph before one that opens with the quote."""
    stretch = tx.stretches[index]
    if stretch.open_mark is None or stretch.paragraph == 0:
        return None
    doc = tx.doc
    para, previous = tx.paragraphs[stretch.paragraph], tx.paragraphs[stretch.paragraph - 1]
    if tx.text[para.start : stretch.open_mark].strip() or not tx.text[
        previous.start : previous.end
    ].rstrip().endswith(":"):
        return None
    first, last = tx.tokens_in(previous.start, previous.end)
    while last > first and doc[last - 1].is_space:
        last -= 1
    for i in range(last - 2, first - 1, -1):
        if doc[i].text in TERMINATORS:
            first = i + 1
            break
    found = _find_attribution(tx, (first, last), after=False, strict=False)
    if found is None:
        return None
    found.standalone = True
    return found


def _dash_line_attribution(tx: Text, index: int) -> Attribution | None:
    """ "- Sen. Bernie Sanders." alone on the paragraph after a quote: the speaker signs it."""
    stretch = tx.stretches[index]
    following = stretch.last_paragraph + 1
    if following >= len(tx.paragraphs) or stretch.close_end is None:
        return None
    doc = tx.doc
    para = tx.paragraphs[stretch.last_paragraph]
    if tx.text[stretch.close_end : para.end].strip(" .\t"):
        return None
    line = tx.paragraphs[following]
    first, last = tx.tokens_in(line.start, line.end)
    words = words_in(doc, first, last)
    if not words or doc[first].text[:1] not in _DASHES or len(words) > _MAX_DASH_LINE:
        return None
    names = [w for w in words if w.pos_ in ("PROPN", "PRON")]
    if not names:
        return None
    head = names[-1]
    while head.head.i != head.i and first <= head.head.i < last and head.head.pos_ == "PROPN":
        head = head.head
    return Attribution(doc[first], doc[first].text, head, (first, last - 1), standalone=True)


def _naming_attribution(tx: Text, index: int) -> Attribution | None:
    """ "Trump called the plan “a disgrace”": the words of the verb's subject, inside a mixed quote."""
    doc = tx.doc
    stretch = tx.stretches[index]
    if stretch.open_mark is None:
        return None
    first, last = tx.tokens_in(stretch.pieces[0][0], stretch.pieces[-1][1])
    naming = load_verbs().naming
    for i in range(first, last):
        tok = doc[i]
        if first <= tok.head.i < last or tok.head.i == tok.i:
            continue
        verb = tok.head
        for _ in range(3):
            if verb.i in tx.blocked:
                break
            if verb.pos_ == "VERB" and verb.lemma_.lower() in naming:
                subject = subject_of(verb, tx.blocked)
                if subject is None:
                    return None
                return Attribution(verb, verb.text, subject, (verb.i, verb.i), named=True)
            if any(c.dep_ in SUBJECT_DEPS for c in verb.children):
                break  # a clause of its own: the quote is not what a naming verb named
            if verb.head.i == verb.i:
                break
            verb = verb.head
        return None
    return None
