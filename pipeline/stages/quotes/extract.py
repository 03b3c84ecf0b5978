"""Quotes: direct quotes from quote marks, their speakers from the parse, and reported speech.

``extract_quotes`` reads the spaCy ``Doc`` of a whole clean body. Quote marks are paired per paragraph
(``marks.py``); each quoted stretch looks for its attribution in the words around it up to the
sentence end ("“...,” he said."), before it ("Biden said in a tweet: “...”"), or nowhere (then it
takes the speaker of the quote or statement just before it). Words of the sentence that belong to
neither the quote nor the attribution make the quote ``mixed`` (said the South has “treated me
well.”). Speech and belief verbs with a clause and no quote marks give ``indirect`` quotes.

This module joins the pieces: direct and mixed quotes from the stretches, speakers in text order, and
the records. The helpers hold the rest: ``verbs.py`` (the verb lists, ``VerbLexicon``),
``text.py`` (the body's geometry), ``attribution.py`` (finding a quote's attribution),
``reported.py`` (indirect quotes), ``speakers.py`` (a speaker from the parse) and ``confidence.py``
(the evidence each quote was found on, and the calibrated confidence it gives).
"""

from __future__ import annotations

from collections.abc import Sequence

from spacy.tokens import Doc, Token

from pipeline.stages.quotes.attribution import Attribution, attribute
from pipeline.stages.quotes.confidence import ConfidenceModel, Evidence, evidence, load_confidence
from pipeline.stages.quotes.marks import Stretch, pair_marks
from pipeline.stages.quotes.reported import reported
from pipeline.stages.quotes.speakers import Speaker, speaker_for
from pipeline.stages.quotes.text import MAX_TRAILING_FRAME, TERMINATORS, Found, Text, words_in
from pipeline.stages.quotes.verbs import VerbLexicon, load_verbs
from schemas.records import Entity, Paragraph, Quote, QuoteKind, Span

__all__ = ["VerbLexicon", "described_quotes", "extract_quotes", "load_verbs", "usable_paragraphs"]

# Words that may stand between an attribution and its quote without making the quote partial.
# ("said that “...”" is not among them: a quote after "that" is part of reported speech, so mixed.)
_GLUE_WORDS = frozenset({"and", "but", "so", "then", "also", "yet", "or", "adding", "saying", "as"})
# quoted bits this short with no attribution are titles, scare quotes or crowd noise, not quotes
_MIN_UNATTRIBUTED_WORDS = 4
_MARKS_AND_SPACE = " \t\n\"“”„‟«»'‘’`"


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
    tx: Text, index: int, found: Attribution | None, after: bool
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
    if tx.text[stretch.pieces[-1][0] : stretch.pieces[-1][1]].rstrip(_MARKS_AND_SPACE)[-1:] in TERMINATORS:
        following = (0, 0)  # the quote ended its sentence: what follows is the next sentence
    if found is not None and not after and _introduced(tx.text, stretch):
        # 'said, “We ...”' or 'replied: “We ...”': a whole quote, whatever the sentence goes on to say
        return "direct", start, end
    if found is None:
        residue = words_in(doc, *before) + words_in(doc, *following)
    elif after:
        # words between the quote and the verb describe the speaker ("“...,” an expert in X, Y, told")
        residue = words_in(doc, *before)
    else:
        residue = words_in(doc, found.chunk[1] + 1, before[1]) + words_in(doc, *following)
    residue = _content_words(residue)
    if not residue:
        return "direct", start, end
    first, last = residue[0], residue[-1]
    return "mixed", min(start, first.idx), max(end, last.idx + len(last.text))


def _goes_on(tx: Text, previous: Found | None, stretch: Stretch) -> bool:
    """ "“A,” she said. “B.”": a quote right after an attributed quote and its short attribution."""
    if previous is None or previous.kind != "direct" or previous.cue is None:
        return False
    if previous.paragraph_end != stretch.paragraph or stretch.open_mark is None:
        return False
    gap = tx.tokens_in(previous.spans[-1][1], stretch.open_mark)
    return previous.cue.i in range(*gap) and len(words_in(tx.doc, *gap)) <= MAX_TRAILING_FRAME


def _stretch_quotes(tx: Text) -> list[Found]:
    """Direct and mixed quotes from the quoted stretches, with split quotes joined by their shared cue."""
    doc = tx.doc
    found: list[Found] = []
    by_cue: dict[int, Found] = {}
    for index, stretch in enumerate(tx.stretches):
        attribution, after = attribute(tx, index)
        if attribution is None and stretch.open_mark is None:
            continue  # a lone closing mark with no attribution is a stray mark, not a quote
        kind, start, end = _direct_or_mixed(tx, index, attribution, after)
        if attribution is None:
            quoted = words_in(doc, *tx.tokens_in(stretch.pieces[0][0], stretch.pieces[-1][1]))
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
        item = Found(spans, stretch.paragraph, kind, spans[0][0], paragraph_end=stretch.last_paragraph)
        if attribution is not None:
            item.cue, item.verb, item.subject = attribution.cue, attribution.verb, attribution.subject
            by_cue[attribution.cue.i] = item
        found.append(item)
    return found


def _resolve(tx: Text, items: list[Found], entities: list[Entity]) -> None:
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


def extract_quotes(
    doc: Doc, paragraphs: list[Paragraph], entities: list[Entity], *, model: ConfidenceModel | None = None
) -> list[Quote]:
    """Direct, mixed and indirect quotes of one body, with speakers and confidence, in text order.

    ``doc`` is the parse of the whole body and ``paragraphs`` its paragraph offsets; every span is a
    body offset. A direct quote has one span per paragraph it runs through, and one per part when its
    attribution splits it. ``model`` scores each quote's evidence (default: the packaged calibrated
    model, ``confidence.py``). Pure: reads its arguments, returns new records.
    """
    score = model or load_confidence()
    described = described_quotes(doc, paragraphs, entities)
    return [quote.model_copy(update={"confidence": score(ev)}) for quote, ev in described]


def described_quotes(
    doc: Doc, paragraphs: list[Paragraph], entities: list[Entity]
) -> list[tuple[Quote, Evidence]]:
    """``extract_quotes`` without the confidence: each quote with the evidence it is scored on (what
    ``eval/calibrate_quotes.py`` fits the model to)."""
    text = doc.text
    if not text.strip() or len(doc) == 0:
        return []
    paras = usable_paragraphs(text, paragraphs)
    tx = Text(doc, text, paras, pair_marks(text, paras))
    quoted = _stretch_quotes(tx)
    used = {q.cue.i for q in quoted if q.cue is not None}
    items = quoted + reported(tx, used)
    _resolve(tx, items, entities)
    quotes = []
    found = []
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
        found.append(evidence(tx, item))
    return list(zip(quotes, found, strict=True))
