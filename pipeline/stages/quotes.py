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
from collections.abc import Sequence
from dataclasses import dataclass, field
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
_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass"})
_WHEN_LABELS = frozenset({"DATE", "TIME"})
_APPEARANCE_VERBS = frozenset({"appear", "seem", "look", "sound"})  # evaluative without the passive
_OBJECT_PREPOSITIONS = frozenset({"of", "for", "as"})
_CLAUSE_DEPS = frozenset({"ccomp", "xcomp", "dobj", "csubj"})
_PARENTHESIS_MARKS = frozenset({",", "—", "–", "-"})
# roots of words before a parenthetical attribution that set the scene rather than carry the content
_SCENE_DEPS = frozenset({"advmod", "prep", "npadvmod", "cc", "intj", "mark"})
_PARTICLE_DEPS = frozenset({"prt", "advmod", "prep"})
_DASHES = frozenset("-–—")
_MAX_DASH_LINE = 8  # "- Sen. Bernie Sanders." on a line of its own signs the quote above it
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
    # prepositions a '+prep' verb reports through when the list names others ("responded to X")
    prepositions: dict[str, frozenset[str]] = field(default_factory=dict)
    # nouns of saying and believing, with the prepositions they report through ("questions about X");
    # every one also reports a "that" clause ("the claim that ...")
    nouns: dict[str, frozenset[str]] = field(default_factory=dict)
    # verbs of appearance ("seems to"), or of belief in the passive ("is expected to"): the writer's
    # evaluation of their subject, reported as two pieces, the subject and what is said of it
    evidential: frozenset[str] = frozenset()
    # verbs whose quoted object or complement is the subject's own words ("called it “a disgrace”")
    naming: frozenset[str] = frozenset()
    # verbs that cue a quote only with a particle ("went on", "points out", "shot back")
    phrasal: dict[str, frozenset[str]] = field(default_factory=dict)


def _flag(words: list[str], name: str) -> list[str] | None:
    """The values of ``name`` among a line's flags: ``+prep=to,on`` -> ["to", "on"]; bare ``+prep`` -> []."""
    for word in words[1:]:
        flag, _, values = word.partition("=")
        if flag == name:
            return [v for v in values.split(",") if v]
    return None


@lru_cache(maxsize=1)
def load_verbs() -> VerbLexicon:
    """Read the packaged verb lists once per process."""
    data = resources.files("pipeline").joinpath("data")

    def lines(name: str) -> list[list[str]]:
        text = data.joinpath(name).read_text("utf-8")
        return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]

    speech_lines = lines("speech_verbs.txt")
    speech = frozenset(words[0] for words in speech_lines if len(words) == 1)
    phrasal: dict[str, set[str]] = {}
    for words in speech_lines:
        if len(words) > 1:
            phrasal.setdefault(words[0], set()).update(words[1:])
    all_lines = lines("report_verbs.txt")
    report_lines = [words for words in all_lines if _flag(words, "+noun") is None]
    return VerbLexicon(
        speech=speech,
        report=speech | frozenset(words[0] for words in report_lines),
        with_object=frozenset(words[0] for words in report_lines if "+obj" in words[1:]),
        with_infinitive=frozenset(words[0] for words in report_lines if "+to" in words[1:]),
        with_preposition=frozenset(words[0] for words in report_lines if _flag(words, "+prep") is not None),
        prepositions={words[0]: frozenset(flag) for words in report_lines if (flag := _flag(words, "+prep"))},
        nouns={
            words[0]: frozenset(_flag(words, "+noun") or ())
            for words in all_lines
            if words not in report_lines
        },
        naming=frozenset(words[0] for words in report_lines if "+quote" in words[1:]),
        evidential=frozenset(words[0] for words in report_lines if "+evident" in words[1:]),
        phrasal={verb: frozenset(particles) for verb, particles in phrasal.items()},
    )


@dataclass
class _Attribution:
    cue: Token  # the speech verb, or "according" of "according to"
    verb: str
    subject: Token | None
    chunk: tuple[int, int]  # token range [first, last] of the attribution words in the frame
    standalone: bool = False  # the quote is the speaker's words as they stand, never partial
    named: bool = False  # the quote names what the verb's object is: mixed, from the object on


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
    """Character and token geometry of one body: its text (``doc.text``, joined once: spaCy rebuilds
    it from every token on each access), paragraphs, quoted stretches, token lookup."""

    def __init__(self, doc: Doc, text: str, paragraphs: list[Paragraph], stretches: list[Stretch]) -> None:
        self.doc = doc
        self.text = text
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
    if tok.pos_ not in ("VERB", "AUX"):
        return False
    lemma = tok.lemma_.lower()
    if lemma in verbs:
        return True
    particles = load_verbs().phrasal.get(lemma)
    return particles is not None and any(
        c.lower_ in particles for c in tok.children if c.dep_ in _PARTICLE_DEPS
    )


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


def _introduced(text: str, stretch: Stretch) -> bool:
    """Whether the quote follows a comma or colon and opens with a capital: a quote as a whole."""
    if stretch.open_mark is None:
        return False
    before = text[: stretch.open_mark].rstrip()
    opening = next((c for c in text[stretch.pieces[0][0] : stretch.pieces[0][1]] if c.isalpha()), "")
    return before[-1:] in (",", ":") and opening.isupper()


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
    if found is not None and found.standalone:
        return "direct", start, end
    if found is not None and found.named:
        first = next((t for t in doc[found.chunk[1] + 1 :] if not t.is_space), doc[found.chunk[1]])
        return "mixed", min(start, first.idx), end
    if tx.text[stretch.pieces[-1][0] : stretch.pieces[-1][1]].rstrip(_MARKS_AND_SPACE)[-1:] in _TERMINATORS:
        following = (0, 0)  # the quote ended its sentence: what follows is the next sentence
    if found is not None and not after and _introduced(tx.text, stretch):
        # 'said, “We ...”' or 'replied: “We ...”': a whole quote, whatever the sentence goes on to say
        return "direct", start, end
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


def _attribute(tx: _Text, index: int) -> tuple[_Attribution | None, bool]:
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


def _colon_paragraph_attribution(tx: _Text, index: int) -> _Attribution | None:
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
        if doc[i].text in _TERMINATORS:
            first = i + 1
            break
    found = _find_attribution(tx, (first, last), after=False, strict=False)
    if found is None:
        return None
    found.standalone = True
    return found


def _dash_line_attribution(tx: _Text, index: int) -> _Attribution | None:
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
    words = _words(doc, first, last)
    if not words or doc[first].text[:1] not in _DASHES or len(words) > _MAX_DASH_LINE:
        return None
    names = [w for w in words if w.pos_ in ("PROPN", "PRON")]
    if not names:
        return None
    head = names[-1]
    while head.head.i != head.i and first <= head.head.i < last and head.head.pos_ == "PROPN":
        head = head.head
    return _Attribution(doc[first], doc[first].text, head, (first, last - 1), standalone=True)


def _naming_attribution(tx: _Text, index: int) -> _Attribution | None:
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
                return _Attribution(verb, verb.text, subject, (verb.i, verb.i), named=True)
            if any(c.dep_ in _SUBJECT_DEPS for c in verb.children):
                break  # a clause of its own: the quote is not what a naming verb named
            if verb.head.i == verb.i:
                break
            verb = verb.head
        return None
    return None


def _goes_on(tx: _Text, previous: _Found | None, stretch: Stretch) -> bool:
    """ "“A,” she said. “B.”": a quote right after an attributed quote and its short attribution."""
    if previous is None or previous.kind != "direct" or previous.cue is None:
        return False
    if previous.paragraph_end != stretch.paragraph or stretch.open_mark is None:
        return False
    gap = tx.tokens_in(previous.spans[-1][1], stretch.open_mark)
    return previous.cue.i in range(*gap) and len(_words(tx.doc, *gap)) <= _MAX_TRAILING_FRAME


def _stretch_quotes(tx: _Text) -> list[_Found]:
    """Direct and mixed quotes from the quoted stretches, with split quotes joined by their shared cue."""
    doc = tx.doc
    found: list[_Found] = []
    by_cue: dict[int, _Found] = {}
    for index, stretch in enumerate(tx.stretches):
        attribution, after = _attribute(tx, index)
        if attribution is None and stretch.open_mark is None:
            continue  # a lone closing mark with no attribution is a stray mark, not a quote
        kind, start, end = _direct_or_mixed(tx, index, attribution, after)
        if attribution is None:
            quoted = _words(doc, *tx.tokens_in(stretch.pieces[0][0], stretch.pieces[-1][1]))
            previous = found[-1] if found else None
            if len(quoted) < _MIN_UNATTRIBUTED_WORDS and not _goes_on(tx, previous, stretch):
                continue
            if (
                kind == "direct"
                and previous is not None
                and previous.kind == "direct"
                and previous.paragraph_end == stretch.paragraph - 1
                and not tx.text[previous.spans[-1][1] : stretch.pieces[0][0]].strip(_MARKS_AND_SPACE)
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
        pieces: list[tuple[int, int]] = []
        verb = tok.text
        if tok.lower_ == "according" and _is_cue(tok, lexicon.report):
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
                _Found([(start, end)], tx.paragraph_of(start), "indirect", start, tok, verb or None, subject)
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
    subject = next((c for c in verb.children if c.dep_ in _SUBJECT_DEPS), None)
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
    if not _words(doc, first, last):
        return None
    return first, last


def _resolve(tx: _Text, items: list[_Found], entities: list[Entity]) -> None:
    """Speakers in text order, so a pronoun or an unattributed quote can lean on earlier speakers."""
    doc, text = tx.doc, tx.text
    previous: list[Speaker] = []
    last_by_paragraph: dict[int, Speaker] = {}
    for item in sorted(items, key=lambda f: f.position):
        if item.subject is not None:
            speaker = speaker_for(doc, text, item.subject, entities, previous)
            item.speaker = _earlier_role(doc, text, speaker, previous)
            previous.append(item.speaker)
            last_by_paragraph[item.paragraph] = item.speaker
        elif item.cue is None:
            # no attribution in its sentence: the quote continues the speaker just before it
            item.speaker = last_by_paragraph.get(item.paragraph) or last_by_paragraph.get(item.paragraph - 1)
            if item.speaker is not None:
                last_by_paragraph[item.paragraph] = item.speaker


def _earlier_role(doc: Doc, text: str, speaker: Speaker, previous: list[Speaker]) -> Speaker:
    """ "the official" after "a senior US defense official" said something is that official."""
    head = doc[speaker.head]
    written = text[speaker.start : speaker.end].lower().split()
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


def usable_paragraphs(text: str, paragraphs: Sequence[Paragraph]) -> list[Paragraph]:
    """The paragraphs that lie inside ``text``; the whole text as one when none does."""
    inside = [p for p in paragraphs if 0 <= p.start < p.end <= len(text)]
    return inside or [Paragraph(start=0, end=len(text))]


def extract_quotes(doc: Doc, paragraphs: list[Paragraph], entities: list[Entity]) -> list[Quote]:
    """Direct, mixed and indirect quotes of one body, with speakers, in text order.

    ``doc`` is the parse of the whole body and ``paragraphs`` its paragraph offsets; every span is a
    body offset. A direct quote has one span per paragraph it runs through, and one per part when its
    attribution splits it. Pure: reads its arguments, returns new records.
    """
    text = doc.text
    if not text.strip() or len(doc) == 0:
        return []
    paras = usable_paragraphs(text, paragraphs)
    tx = _Text(doc, text, paras, pair_marks(text, paras))
    quoted = _stretch_quotes(tx)
    used = {q.cue.i for q in quoted if q.cue is not None}
    items = quoted + _reported(tx, used)
    _resolve(tx, items, entities)
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
