"""Selective analysis: named entities over every sentence, the parse only where an attribution can be.

A user who runs spaCy on a wire feed pays for the whole pipeline on every sentence. The entity stage
reads ``ner`` and sentence boundaries; only the quote stage reads tags, lemmas and the dependency
parse, and only around the places an attribution can sit: quote marks, a verb or noun of saying or
believing (in any inflection), "according to". ``SelectiveAnalysis`` runs the cheap sentence
recogniser (``senter``) over every body, picks those sentences (with a neighbour on each side of a
quoted stretch, where its speaker often is), parses just them, and runs ``ner`` over the whole body
with the parse's sentence boundaries, so both stages see what the full pipeline would have given them.

Why the parse of a stretch is the full pipeline's: the shared ``tok2vec`` sees a fixed number of tokens
either side (its window times its depth), so a stretch parsed with that many tokens of padding gets the
same vectors; and the padding is kept out of the parse by sentence boundaries set at the stretch's edges
(spaCy's parser respects boundaries set before it). Where the full parser would have drawn a sentence
boundary elsewhere than the recogniser did, the two parses may differ (``bench/analysis_cost.py``
measures how often).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass
from typing import Any, cast

import numpy as np
from spacy.attrs import DEP, HEAD, IDX, LEMMA, LOWER, MORPH, NORM, POS, SENT_START, TAG
from spacy.language import Language
from spacy.tokens import Doc
from thinc.types import Ints2d

from pipeline.stages.analysis.cache import CachedAttributeRuler, CachedLemmatizer, remember
from pipeline.stages.analysis.transitions import stepped
from pipeline.stages.quotes.extract import usable_paragraphs
from pipeline.stages.quotes.marks import pair_marks
from pipeline.stages.quotes.speakers import PERSON_PRONOUNS, THING_PRONOUNS
from pipeline.stages.quotes.verbs import VerbLexicon, load_verbs
from schemas.records import Paragraph

#: Components run over the selected stretches only, in this order (the quote stage reads their output);
#: the attribute ruler and the lemmatizer after them run through caches (``cache.py``).
PARSE_COMPONENTS = ("tok2vec", "tagger", "parser")
#: What is copied from a parsed stretch into the body's ``Doc``.
_PARSE_ATTRS: list[int | str] = [TAG, POS, MORPH, LEMMA, DEP, HEAD]
# The lemmatizer's parts of speech under which a surface form can be a verb or a noun of saying.
_VERB, _NOUN = "verb", "noun"


@dataclass(frozen=True)
class Coverage:
    """How much of one body was parsed: sentences and tokens, selected and in all."""

    sentences: int
    parsed_sentences: int
    tokens: int
    parsed_tokens: int

    def shares(self) -> dict[str, float]:
        """The parsed share of the sentences and of the tokens (0 when there were none)."""
        return {
            "parsed_sentences_share": round(self.parsed_sentences / max(self.sentences, 1), 4),
            "parsed_tokens_share": round(self.parsed_tokens / max(self.tokens, 1), 4),
        }


class AttributionCues:
    """Which tokens can cue an attribution, from their surface form alone (no tags, no parse).

    A form is a cue when the model's own lemmatizer rules could make it a lemma of the verb lists
    (``report_verbs.txt``, ``speech_verbs.txt``) read as a verb, or of the noun list read as a noun:
    "said", "says", "saying", "told", "claims", "statements". The rules are the lemmatizer's, so every
    inflection the full pipeline would lemmatize to a listed lemma is a cue here (and some forms that
    it would not, such as the noun "states": harmless, they only cost a parse).
    """

    def __init__(self, nlp: Language, lexicon: VerbLexicon | None = None) -> None:
        lexicon = lexicon if lexicon is not None else load_verbs()
        self.verbs = frozenset(lexicon.report | lexicon.evidential | lexicon.naming)
        self.nouns = frozenset(lexicon.nouns)
        lookups = nlp.get_pipe("lemmatizer").lookups  # type: ignore[attr-defined]
        self._rules = lookups.get_table("lemma_rules", {})
        self._exceptions = lookups.get_table("lemma_exc", {})
        self._strings = nlp.vocab.strings
        self._according = nlp.vocab.strings.add("according")
        self._to = nlp.vocab.strings.add("to")
        self._known: dict[int, bool] = {}

    def lemmas(self, form: str, pos: str) -> set[str]:
        """Every lemma the lemmatizer's rules and exceptions can give ``form`` under ``pos``, and the form."""
        form = form.lower()
        found = {form, *self._exceptions.get(pos, {}).get(form, ())}
        for old, new in self._rules.get(pos, ()):
            if form.endswith(old) and len(form) > len(old):
                found.add(form[: len(form) - len(old)] + new)
        return found

    def is_cue(self, lower: int) -> bool:
        """Whether the lower-case form with hash ``lower`` can be a verb or noun of saying."""
        known = self._known.get(lower)
        if known is None:
            form = self._strings[lower]
            known = bool(self.lemmas(form, _VERB) & self.verbs) or bool(self.lemmas(form, _NOUN) & self.nouns)
            remember(self._known, lower, known)
        return known

    def tokens(self, lowers: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """A boolean per token: a cue word, or the "according" of "according to"."""
        cues = np.fromiter((self.is_cue(int(x)) for x in lowers), dtype=bool, count=len(lowers))
        according = lowers[:-1] == self._according
        cues[:-1] |= according & (lowers[1:] == self._to)
        return cues


@dataclass
class _Plan:
    """The stretches of one body to parse, as token ranges, and the sentence boundaries of the rest."""

    doc: Doc
    stretches: list[tuple[int, int]]
    sent_starts: np.ndarray[Any, Any]
    coverage: Coverage


class SelectiveAnalysis:
    """The NLP pass of the enricher: ``ner`` everywhere, the parse only where the quote stage looks.

    Built once from a loaded model (``load_nlp``); calling it has no side effects on the model. Returns,
    per body, one ``Doc`` whose entities, sentence boundaries and (within parsed stretches) tags, lemmas
    and dependencies are what the full pipeline would give; tokens outside the stretches carry no tag,
    lemma or dependency (spaCy's "missing" values: empty strings, each token its own head).
    ``context`` is the number of sentences parsed either side of a quoted stretch.
    """

    def __init__(
        self,
        nlp: Language,
        *,
        context: int = 1,
        pronoun_context: int = 0,
        min_gap: int = 8,
        batch_size: int = 16,
    ) -> None:
        self.nlp = nlp
        self.context = context
        self.min_gap = min_gap
        self.pronoun_context = pronoun_context
        self._pronouns = np.asarray(
            [nlp.vocab.strings.add(p) for p in sorted(PERSON_PRONOUNS | THING_PRONOUNS)], dtype=np.uint64
        )
        self.batch_size = batch_size
        self.cues = AttributionCues(nlp)
        self.senter = nlp.get_pipe("senter")
        self.parse_steps = [stepped(nlp.get_pipe(name)) for name in PARSE_COMPONENTS]
        self.ruler = CachedAttributeRuler(nlp.get_pipe("attribute_ruler"), nlp.vocab)  # type: ignore[arg-type]
        self.lemmatizer = CachedLemmatizer(nlp.get_pipe("lemmatizer"), nlp.vocab)  # type: ignore[arg-type]
        self.entity_steps = [
            stepped(nlp.get_pipe(name)) for name in nlp.pipe_names[nlp.pipe_names.index("ner") :]
        ]
        encode = nlp.config["components"]["tok2vec"]["model"]["encode"]
        # tokens either side that move a token's tok2vec vector: the window of each layer, times layers
        self.padding = int(encode["depth"]) * int(encode["window_size"])
        self.last_coverage: list[Coverage] = []
        self.total = Coverage(0, 0, 0, 0)  # over every body analysed so far (reported by `wirepipe enrich`)

    def __call__(self, text: str, paragraphs: Sequence[Paragraph] = ()) -> Doc:
        return next(self.pipe([(text, paragraphs)]))

    def pipe(
        self, items: Iterable[tuple[str, Sequence[Paragraph]]], batch_size: int | None = None
    ) -> Iterator[Doc]:
        """Analyse ``(body, paragraphs)`` pairs in batches: the paragraphs the quote stage will be given
        (with none, the body is one paragraph, as there)."""
        size = batch_size or self.batch_size
        batch: list[tuple[str, Sequence[Paragraph]]] = []
        for item in items:
            batch.append(item)
            if len(batch) >= size:
                yield from self._batch(batch)
                batch = []
        if batch:
            yield from self._batch(batch)

    def _batch(self, items: list[tuple[str, Sequence[Paragraph]]]) -> list[Doc]:
        docs = [self.nlp.make_doc(text) for text, _ in items]
        docs = list(_pipe(self.senter, docs, len(docs)))
        plans = [self._plan(doc, text, paras) for doc, (text, paras) in zip(docs, items, strict=True)]
        self._parse(plans)
        for step in self.entity_steps:
            docs = list(_pipe(step, docs, len(docs)))
        self.last_coverage = [p.coverage for p in plans]
        fields = zip(astuple(self.total), *map(astuple, self.last_coverage), strict=True)
        self.total = Coverage(*(sum(values) for values in fields))
        return docs

    def _plan(self, doc: Doc, text: str, paragraphs: Sequence[Paragraph]) -> _Plan:
        n = len(doc)
        arrays = doc.to_array([SENT_START, LOWER, IDX])
        idx = [int(i) for i in arrays[:, 2]]
        paras = usable_paragraphs(text, paragraphs)
        sent_starts = arrays[:, 0].astype(np.int64)
        # the recogniser misses about a third of the boundaries the parser draws, most of them at
        # paragraph breaks ("...the bridge.\n\nHeavy rain..."): a paragraph starts a sentence here
        for para in paras:
            first = bisect_left(idx, para.start)
            if first < n:
                sent_starts[first] = 1
        if n:
            sent_starts[0] = 1
        _set(doc, [SENT_START], sent_starts.astype(np.uint64))
        starts = [int(i) for i in np.flatnonzero(sent_starts == 1)]
        bounds = [*starts, n]
        selected = np.zeros(len(starts), dtype=bool)
        cue_tokens = np.flatnonzero(self.cues.tokens(arrays[:, 1])) if n else np.zeros(0, dtype=np.int64)
        for i in cue_tokens:
            selected[bisect_right(starts, int(i)) - 1] = True
        if self.pronoun_context:
            # a pronoun speaker is resolved to a name in subject position before it: parse the sentences
            # just before a cue sentence that has one
            pronouns = np.isin(arrays[:, 1], self._pronouns)
            for i in np.flatnonzero(pronouns):
                s = bisect_right(starts, int(i)) - 1
                if selected[s]:
                    selected[max(0, s - self.pronoun_context) : s] = True
        for stretch in pair_marks(text, paras):
            first = max(0, bisect_right(idx, stretch.start) - 1)
            last = max(first, bisect_left(idx, stretch.end) - 1)
            lo = bisect_right(starts, first) - 1 - self.context
            hi = bisect_right(starts, last) - 1 + self.context
            selected[max(0, lo) : hi + 1] = True
        stretches = self._stretches(selected, bounds)
        coverage = Coverage(
            sentences=len(starts),
            parsed_sentences=int(selected.sum()),
            tokens=n,
            parsed_tokens=sum(b - a for a, b in stretches),
        )
        return _Plan(doc, stretches, sent_starts, coverage)

    def _stretches(self, selected: np.ndarray[Any, Any], bounds: list[int]) -> list[tuple[int, int]]:
        """Token ranges to parse: runs of selected sentences, joined across gaps too short to skip.

        Parsing a stretch on its own costs its padding on each side, so a gap shorter than the padding it
        would add (twice inside the body, once at its start or end) is parsed rather than skipped.
        """
        n = bounds[-1]
        runs: list[tuple[int, int]] = []
        for s in np.flatnonzero(selected):
            a, b = bounds[s], bounds[s + 1]
            if runs and a - runs[-1][1] <= 2 * self.padding + self.min_gap:
                runs[-1] = (runs[-1][0], b)
            else:
                runs.append((a, b))
        if runs and runs[0][0] <= self.padding + self.min_gap:
            runs[0] = (0, runs[0][1])
        if runs and n - runs[-1][1] <= self.padding + self.min_gap:
            runs[-1] = (runs[-1][0], n)
        return runs

    def _parse(self, plans: list[_Plan]) -> None:
        """Parse the planned stretches of a batch: a body that is all one stretch in place, the others
        as padded ``Doc``s of their own whose parse is copied back."""
        pad = self.padding
        jobs: list[Doc] = []
        where: list[tuple[int, int, int, int, int]] = []  # job, plan, stretch start and end, padding before
        for p, plan in enumerate(plans):
            doc = plan.doc
            if plan.stretches == [(0, len(doc))]:
                # the parser respects boundaries set before it: clear the recogniser's (the full pipeline
                # has none at this point)
                _set(doc, [SENT_START], np.zeros(len(doc), dtype=np.uint64))
                jobs.append(doc)
                continue
            norms = doc.to_array([NORM])
            for a, b in plan.stretches:
                lo, hi = max(0, a - pad), min(len(doc), b + pad)
                words = [t.text for t in doc[lo:hi]]
                spaces = [bool(t.whitespace_) for t in doc[lo:hi]]
                # preset boundaries at the stretch's edges keep the padding out of its parse;
                # inside the stretch the parser draws its own, as it would in the whole body
                edges: list[bool | int | None] = [None] * (hi - lo)
                edges[a - lo] = True
                if b < hi:
                    edges[b - lo] = True
                job = Doc(self.nlp.vocab, words=words, spaces=spaces, sent_starts=edges)
                # the tokenizer's special cases give some tokens their own norm ("Dec." -> "december"),
                # which tok2vec reads; a Doc built from words would fall back to the word's
                _set(job, [NORM], norms[lo:hi])
                jobs.append(job)
                where.append((len(jobs) - 1, p, a, b, a - lo))
        stream: Iterable[Doc] = jobs
        for step in self.parse_steps:
            stream = _pipe(step, stream, max(1, len(jobs)))
        parsed = [self.lemmatizer(self.ruler(job)) for job in stream]
        merged: dict[int, np.ndarray[Any, Any]] = {}
        covered: dict[int, np.ndarray[Any, Any]] = {}
        for index, p, a, b, before in where:
            n = len(plans[p].doc)
            rows = parsed[index].to_array(_PARSE_ATTRS)[before : before + b - a]
            merged.setdefault(p, np.zeros((n, len(_PARSE_ATTRS)), dtype=np.uint64))[a:b] = rows
            covered.setdefault(p, np.zeros(n, dtype=bool))[a:b] = True
        for p, array in merged.items():
            plan, mask = plans[p], covered[p]
            _set(plan.doc, _PARSE_ATTRS, array)
            # the parse sets the boundaries of the stretches and clears the others: put the recogniser's back
            bounds = plan.doc.to_array([SENT_START]).astype(np.int64)
            bounds[~mask] = plan.sent_starts[~mask]
            _set(plan.doc, [SENT_START], bounds.astype(np.uint64))


def _pipe(step: Any, docs: Iterable[Doc], batch_size: int) -> Iterable[Doc]:
    """A component over a batch of docs: its own ``pipe`` when it has one."""
    if hasattr(step, "pipe"):
        return cast(Iterable[Doc], step.pipe(docs, batch_size=batch_size))
    return (step(doc) for doc in docs)


def _set(doc: Doc, attrs: list[int | str], values: np.ndarray[Any, Any]) -> None:
    """``Doc.from_array`` with a numpy array (spaCy types it as thinc's ``Ints2d``, which it is)."""
    doc.from_array(attrs, cast(Ints2d, values))
