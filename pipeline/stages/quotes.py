"""Quotes: direct quotes from quote marks, their speakers from the parse, and reported speech.

``extract_quotes`` reads the spaCy ``Doc`` of a whole clean body. Quote marks are paired per paragraph
(``_quote_marks``); each quoted stretch looks for its attribution in the words around it up to the
sentence end ("“...,” he said."), before it ("Biden said in a tweet: “...”"), or nowhere (then it
takes the speaker of the quote or statement just before it). Words of the sentence that belong to
neither the quote nor the attribution make the quote ``mixed`` (said the South has “treated me
well.”). Speech and belief verbs with a clause and no quote marks give ``indirect`` quotes.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from spacy.tokens import Doc, Token

from pipeline.stages._quote_marks import Stretch, pair_marks
from pipeline.stages._quote_speakers import (
    Speaker,
    according_to_source,
    nearest_nominal,
    speaker_for,
    subject_of,
)
from schemas.records import Entity, Paragraph, Quote, QuoteKind, Span

_TERMINATORS = frozenset({".", "!", "?"})
_REPORTING_PREPOSITIONS = frozenset({"about", "for", "against", "of"})
# Words that may stand between an attribution and its quote without making the quote partial.
# ("said that “...”" is not among them: a quote after "that" is part of reported speech, so mixed.)
_GLUE_WORDS = frozenset({"and", "but", "so", "then", "also", "yet", "or", "adding", "saying", "as"})
# Children of the verb that carry what was said, not who said it or how.
_CONTENT_DEPS = frozenset({"ccomp", "xcomp", "parataxis", "conj", "advcl", "csubj"})
# quoted bits this short with no attribution are titles, scare quotes or crowd noise, not quotes
_MIN_UNATTRIBUTED_WORDS = 4
_MARKS_AND_SPACE = " \t\n\"“”„‟«»'‘’`"
_MAX_TRAILING_FRAME = 8  # "“...” Biden said." after a full stop: only a short frame is an attribution


@dataclass(frozen=True)
class VerbLexicon:
    """Attribution verbs by lemma: ``speech`` introduce direct quotes; ``report`` also reported speech."""

    speech: frozenset[str]
    report: frozenset[str]
    with_object: frozenset[str]
    with_infinitive: frozenset[str]
    with_preposition: frozenset[str] = frozenset()


@lru_cache(maxsize=1)
def load_verbs() -> VerbLexicon:
    """Read the packaged verb lists once per process."""
    data = resources.files("pipeline").joinpath("data")

    def lines(name: str) -> list[list[str]]:
        text = data.joinpath(name).read_text("utf-8")
        return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]

    speech = frozenset(words[0] for words in lines("speech_verbs.txt"))
    report_lines = lines("report_verbs.txt")
    return VerbLexicon(
        speech=speech,
        report=speech | frozenset(words[0] for words in report_lines),
        with_object=frozenset(words[0] for words in report_lines if "+obj" in words[1:]),
        with_infinitive=frozenset(words[0] for words in report_lines if "+to" in words[1:]),
        with_preposition=frozenset(words[0] for words in report_lines if "+prep" in words[1:]),
    )


@dataclass
class _Attribution:
    cue: Token  # the speech verb, or "according" of "according to"
    verb: str
    subject: Token | None
    chunk: tuple[int, int]  # token range [first, last] of the attribution words in the frame


@dataclass
class _Found:
    """A quote before its speaker is resolved."""

    spans: list[tuple[int, int]]
    paragraph: int
    kind: QuoteKind
    position: int
    cue: Token | None = None
    verb: str | None = None
    subject: Token | None = None
    speaker: Speaker | None = None
    paragraph_end: int = -1


class _Text:
    """Character and token geometry of one body: paragraphs, quoted stretches, token lookup."""

    def __init__(self, doc: Doc, paragraphs: list[Paragraph], stretches: list[Stretch]) -> None:
        self.doc = doc
        self.paragraphs = paragraphs
        self.starts = [t.idx for t in doc]
        self.stretches = stretches
        self.blocked: set[int] = set()
        for stretch in stretches:
            for start, end in stretch.pieces:
                self.blocked.update(range(*self.tokens_in(start, end)))

    def tokens_in(self, start: int, end: int) -> tuple[int, int]:
        """Token range ``[first, last)`` of tokens starting inside ``[start, end)``."""
        return bisect_left(self.starts, start), bisect_left(self.starts, end)

    def paragraph_of(self, char: int) -> int:
        for index, para in enumerate(self.paragraphs):
            if para.start <= char < para.end:
                return index
        return max(0, len(self.paragraphs) - 1)

    def after_frame(self, index: int) -> tuple[int, int]:
        """Tokens after stretch ``index`` up to the sentence end, the next quote or the paragraph end."""
        stretch = self.stretches[index]
        if stretch.close_end is None:
            return 0, 0
        para = self.paragraphs[stretch.last_paragraph]
        limit = para.end
        if index + 1 < len(self.stretches):
            limit = min(limit, self.stretches[index + 1].start)
        first, last = self.tokens_in(stretch.close_end, limit)
        for i in range(first, last):
            if self.doc[i].text in _TERMINATORS:
                return first, i
        return first, last

    def before_frame(self, index: int) -> tuple[int, int]:
        """Tokens before stretch ``index`` back to the sentence start, the last quote or the paragraph."""
        stretch = self.stretches[index]
        if stretch.open_mark is None:
            return 0, 0
        limit = self.paragraphs[stretch.paragraph].start
        if index > 0:
            limit = max(limit, self.stretches[index - 1].end)
        first, last = self.tokens_in(limit, stretch.open_mark)
        for i in range(last - 1, first - 1, -1):
            if self.doc[i].text in _TERMINATORS:
                return i + 1, last
        return first, last


def _words(doc: Doc, first: int, last: int) -> list[Token]:
    return [doc[i] for i in range(first, last) if doc[i].is_alpha or doc[i].like_num]


def _is_cue(tok: Token, verbs: frozenset[str]) -> bool:
    if tok.lower_ == "according":
        nxt = tok.nbor(1) if tok.i + 1 < len(tok.doc) else None
        return nxt is not None and nxt.lower_ == "to"
    return tok.pos_ in ("VERB", "AUX") and tok.lemma_.lower() in verbs


def _attribution(tx: _Text, cue: Token, frame: tuple[int, int]) -> _Attribution:
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
    return _Attribution(cue, verb, subject, (min(inside), max(inside)))


def _find_attribution(tx: _Text, frame: tuple[int, int], *, after: bool, strict: bool) -> _Attribution | None:
    """The attribution in a frame: the speech cue nearest the quote; a bare "Name:" before it."""
    doc = tx.doc
    verbs = load_verbs().speech
    order = range(frame[0], frame[1]) if after else range(frame[1] - 1, frame[0] - 1, -1)
    for i in order:
        tok = doc[i]
        if i in tx.blocked or not _is_cue(tok, verbs):
            continue
        if strict and (
            frame[1] - frame[0] > _MAX_TRAILING_FRAME
            or any(c.dep_ in ("ccomp", "xcomp") for c in tok.children)
        ):
            return None
        return _attribution(tx, tok, frame)
    if not after and frame[1] - frame[0] >= 2 and doc[frame[1] - 1].text == ":":
        return _colon_attribution(tx, frame)
    return None


def _colon_attribution(tx: _Text, frame: tuple[int, int]) -> _Attribution | None:
    """ "Kasich resisted: “...”" or "Trump issued this statement: “...”": the subject before the colon."""
    doc = tx.doc
    colon = frame[1] - 1
    for i in range(colon - 1, frame[0] - 1, -1):
        if doc[i].pos_ == "VERB" and i not in tx.blocked:
            subject = subject_of(doc[i], tx.blocked)
            if subject is not None:
                return _Attribution(doc[i], doc[i].text, subject, (frame[0], colon))
    if colon - frame[0] <= 6:
        for i in range(colon - 1, frame[0] - 1, -1):
            if doc[i].pos_ == "PROPN" or (doc[i].pos_ == "NOUN" and i == colon - 1):
                return _Attribution(doc[colon], ":", doc[i], (frame[0], colon))
    return None


def _content_words(words: list[Token]) -> list[Token]:
    return [w for w in words if w.lower_ not in _GLUE_WORDS]


def _direct_or_mixed(
    tx: _Text, index: int, found: _Attribution | None, after: bool
) -> tuple[QuoteKind, int, int]:
    """Kind and extent of a quote: words of its sentence outside quote and attribution make it mixed."""
    doc = tx.doc
    stretch = tx.stretches[index]
    start, end = stretch.start, stretch.end
    before, following = tx.before_frame(index), tx.after_frame(index)
    if doc.text[stretch.pieces[-1][0] : stretch.pieces[-1][1]].rstrip(_MARKS_AND_SPACE)[-1:] in _TERMINATORS:
        following = (0, 0)  # the quote ended its sentence: what follows is the next sentence
    if found is None:
        residue = _words(doc, *before) + _words(doc, *following)
    elif after:
        # words between the quote and the verb describe the speaker ("“...,” an expert in X, Y, told")
        residue = _words(doc, *before)
    else:
        residue = _words(doc, found.chunk[1] + 1, before[1]) + _words(doc, *following)
    residue = _content_words(residue)
    if not residue:
        return "direct", start, end
    first, last = residue[0], residue[-1]
    return "mixed", min(start, first.idx), max(end, last.idx + len(last.text))


def _stretch_quotes(tx: _Text) -> list[_Found]:
    """Direct and mixed quotes from the quoted stretches, with split quotes joined by their shared cue."""
    doc = tx.doc
    found: list[_Found] = []
    by_cue: dict[int, _Found] = {}
    for index, stretch in enumerate(tx.stretches):
        text = doc.text[stretch.pieces[0][0] : stretch.pieces[-1][1]].rstrip()
        ends_sentence = text.endswith(".") or stretch.close_end is None
        after_frame, before_frame = tx.after_frame(index), tx.before_frame(index)
        attribution = None
        after = True
        if not ends_sentence:
            attribution = _find_attribution(tx, after_frame, after=True, strict=False)
        if attribution is None:
            attribution = _find_attribution(tx, before_frame, after=False, strict=False)
            after = False
        if attribution is None and ends_sentence:
            attribution = _find_attribution(tx, after_frame, after=True, strict=True)
            after = True
        if attribution is None and stretch.open_mark is None:
            continue  # a lone closing mark with no attribution is a stray mark, not a quote
        kind, start, end = _direct_or_mixed(tx, index, attribution, after)
        if attribution is None:
            quoted = _words(doc, *tx.tokens_in(stretch.pieces[0][0], stretch.pieces[-1][1]))
            if len(quoted) < _MIN_UNATTRIBUTED_WORDS:
                continue
            previous = found[-1] if found else None
            if (
                kind == "direct"
                and previous is not None
                and previous.kind == "direct"
                and previous.paragraph_end == stretch.paragraph - 1
                and not doc.text[previous.spans[-1][1] : stretch.pieces[0][0]].strip(_MARKS_AND_SPACE)
            ):
                # a new paragraph that only goes on quoting continues the quote before it
                previous.spans.extend(stretch.pieces)
                previous.paragraph_end = stretch.last_paragraph
                continue
        spans = list(stretch.pieces) if kind == "direct" else [(start, end)]
        if attribution is not None and attribution.cue.i in by_cue:
            earlier = by_cue[attribution.cue.i]
            if earlier.kind == kind == "direct":
                earlier.spans.extend(spans)
                continue
        item = _Found(spans, stretch.paragraph, kind, spans[0][0], paragraph_end=stretch.last_paragraph)
        if attribution is not None:
            item.cue, item.verb, item.subject = attribution.cue, attribution.verb, attribution.subject
            by_cue[attribution.cue.i] = item
        found.append(item)
    return found


def _reported(tx: _Text, used: set[int]) -> list[_Found]:
    """Indirect quotes: the clause of a speech or belief verb (or "according to") with no quote marks."""
    doc = tx.doc
    lexicon = load_verbs()
    found: list[_Found] = []
    for tok in doc:
        if tok.i in tx.blocked or tok.i in used:
            continue
        content: tuple[int, int] | None = None
        verb = tok.text
        if tok.lower_ == "according" and _is_cue(tok, lexicon.report):
            sent = tok.sent
            phrase = [t.i for t in tok.subtree]
            lo, hi = min(phrase), max(phrase)
            # the reported clause is the longer side of the phrase
            content = (sent.start, lo) if lo - sent.start > sent.end - 1 - hi else (hi + 1, sent.end)
            verb = "according to"
        elif tok.pos_ == "VERB" and tok.lemma_.lower() in lexicon.report:
            content = _clause_of(tok, lexicon)
        if content is None:
            continue
        content = _trim_tokens(doc, *content)
        if content is None or any(i in tx.blocked for i in range(*content)):
            continue
        start = doc[content[0]].idx
        end = doc[content[1] - 1].idx + len(doc[content[1] - 1].text)
        subject = according_to_source(tok) if verb == "according to" else subject_of(tok, tx.blocked)
        found.append(_Found([(start, end)], tx.paragraph_of(start), "indirect", start, tok, verb, subject))
    return found


def _clause_of(verb: Token, lexicon: VerbLexicon) -> tuple[int, int] | None:
    """Token range of what ``verb`` reports: its clause, infinitive or object; or the sentence before it."""
    lemma = verb.lemma_.lower()
    for child in verb.children:
        if child.dep_ == "ccomp" or (child.dep_ == "xcomp" and lemma in lexicon.with_infinitive):
            return child.left_edge.i, child.right_edge.i + 1
    for child in verb.children:
        if child.dep_ == "dobj" and lemma in lexicon.with_object:
            return child.left_edge.i, child.right_edge.i + 1
    if lemma in lexicon.with_preposition:
        for child in verb.children:
            if child.dep_ == "prep" and child.lower_ in _REPORTING_PREPOSITIONS:
                obj = next((c for c in child.children if c.dep_ in ("pobj", "pcomp")), None)
                if obj is not None:
                    return obj.left_edge.i, obj.right_edge.i + 1
    if lemma in lexicon.speech and verb.dep_ in ("parataxis", "ccomp") and verb.head.i < verb.i:
        # "People have more power, Goff said.": the reported clause is the sentence before the verb
        sent = verb.sent
        subject = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")), None)
        stop = min(verb.i, subject.left_edge.i if subject is not None else verb.i)
        return sent.start, stop
    return None


def _trim_tokens(doc: Doc, first: int, last: int) -> tuple[int, int] | None:
    while first < last and (doc[first].is_punct or doc[first].is_space):
        first += 1
    while last > first and (doc[last - 1].is_punct or doc[last - 1].is_space):
        last -= 1
    if not _words(doc, first, last):
        return None
    return first, last


def _resolve(doc: Doc, items: list[_Found], entities: list[Entity]) -> None:
    """Speakers in text order, so a pronoun or an unattributed quote can lean on earlier speakers."""
    previous: list[Speaker] = []
    last_by_paragraph: dict[int, Speaker] = {}
    for item in sorted(items, key=lambda f: f.position):
        if item.subject is not None:
            item.speaker = _earlier_role(doc, speaker_for(doc, item.subject, entities, previous), previous)
            previous.append(item.speaker)
            last_by_paragraph[item.paragraph] = item.speaker
        elif item.cue is None:
            # no attribution in its sentence: the quote continues the speaker just before it
            item.speaker = last_by_paragraph.get(item.paragraph) or last_by_paragraph.get(item.paragraph - 1)
            if item.speaker is not None:
                last_by_paragraph[item.paragraph] = item.speaker


def _earlier_role(doc: Doc, speaker: Speaker, previous: list[Speaker]) -> Speaker:
    """ "the official" after "a senior US defense official" said something is that official."""
    head = doc[speaker.head]
    written = doc.text[speaker.start : speaker.end].lower().split()
    if speaker.entity_id is not None or head.pos_ != "NOUN" or written[:1] != ["the"]:
        return speaker
    for earlier in reversed(previous):
        if earlier.head != head.i and doc[earlier.head].lemma_ == head.lemma_:
            name = earlier.name
            if name.lower().startswith(("a ", "an ", "the ")):
                name = name.split(" ", 1)[1]
            return Speaker(name, speaker.start, speaker.end, earlier.entity_id, speaker.head)
    return speaker


def _span_text(text: str, spans: list[tuple[int, int]]) -> str:
    return " ".join(text[s:e] for s, e in spans)


def extract_quotes(doc: Doc, paragraphs: list[Paragraph], entities: list[Entity]) -> list[Quote]:
    """Direct, mixed and indirect quotes of one body, with speakers, in text order.

    ``doc`` is the parse of the whole body and ``paragraphs`` its paragraph offsets; every span is a
    body offset. A direct quote has one span per paragraph it runs through, and one per part when its
    attribution splits it. Pure: reads its arguments, returns new records.
    """
    text = doc.text
    if not text.strip() or len(doc) == 0:
        return []
    paras = [p for p in paragraphs if 0 <= p.start < p.end <= len(text)]
    paras = paras or [Paragraph(start=0, end=len(text))]
    tx = _Text(doc, paras, pair_marks(text, paras))
    quoted = _stretch_quotes(tx)
    used = {q.cue.i for q in quoted if q.cue is not None}
    items = quoted + _reported(tx, used)
    _resolve(doc, items, entities)
    quotes = []
    for item in sorted(items, key=lambda f: f.position):
        speaker = item.speaker
        quotes.append(
            Quote(
                text=_span_text(text, item.spans),
                spans=[Span(start=s, end=e) for s, e in item.spans],
                paragraph=item.paragraph,
                speaker=speaker.name if speaker else None,
                speaker_start=speaker.start if speaker else None,
                speaker_end=speaker.end if speaker else None,
                speaker_entity_id=speaker.entity_id if speaker else None,
                verb=item.verb,
                kind=item.kind,
            )
        )
    return quotes
