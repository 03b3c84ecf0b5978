"""The NLP step: one spaCy pass per batch of clean articles, then their entities and quotes.

``Enricher`` is built once per worker (or NLP child process); ``process.finish`` turns its ``NlpResult``
per article into an outcome or a dead letter. ``timed`` records a step's wall time (shared with
``process``, which re-exports all three).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.models import CleanArticle
from pipeline.stages.analysis import SelectiveAnalysis, load_nlp
from pipeline.stages.analysis.blas import Blas
from pipeline.stages.analysis.transitions import stepped
from pipeline.stages.entities import TRIM_COMPONENT, body_entities, extract_entities
from pipeline.stages.quotes import confident, extract_quotes
from schemas.records import Entity, Quote

T = TypeVar("T")

ENGLISH = ("en",)


def timed(timings: dict[str, float], name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` and record its wall time in milliseconds under ``name``."""
    start = time.perf_counter()
    try:
        return fn()
    finally:
        timings[name] = round((time.perf_counter() - start) * 1000, 3)


@dataclass
class NlpResult:
    """Entities and quotes of one article, or the error that stopped them."""

    entities: list[Entity] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None
    error: StageError | None = None


class Enricher:
    """The NLP step: one spaCy pass per batch, then entities and quotes from each analysed body.

    With ``selective`` (the default) the pass is ``SelectiveAnalysis``: ``ner`` over every sentence, the
    parse only over the sentences the quote stage can use; without it, the whole pipeline's ``nlp.pipe``.
    ``blas`` is the matrix library of the model's layers (``stages/analysis/blas.py``). Only quotes whose
    confidence reaches ``quote_min_confidence`` are kept (0: all), so what is published, and the quote
    indexes a later retraction goes by, never include the others.
    Built once at start-up (the model loads in ``__init__``); calling it has no side effects.
    """

    def __init__(
        self,
        model: str,
        batch_size: int = 16,
        *,
        selective: bool = True,
        blas: Blas = "numpy",
        quote_min_confidence: float = 0.0,
    ) -> None:
        self.nlp = load_nlp(model, blas=blas)
        self.batch_size = batch_size
        self.quote_min_confidence = quote_min_confidence
        self.analysis = SelectiveAnalysis(self.nlp, batch_size=batch_size) if selective else None
        # the headline pass: the entity components alone (``ner``'s loop stepped with the GIL held)
        self._ner = stepped(self.nlp.get_pipe("ner"))
        self._trim = self.nlp.get_pipe(TRIM_COMPONENT)

    def __call__(self, articles: Sequence[CleanArticle]) -> list[NlpResult]:
        results = [NlpResult() for _ in articles]
        english = [i for i, a in enumerate(articles) if (a.language or "en") in ENGLISH]
        for i, a in enumerate(articles):
            if i not in english:
                results[i].skipped = f"language {a.language}: no English NER or quotes"
        if not english:
            return results
        start = time.perf_counter()
        if self.analysis is not None:
            items = ((articles[i].body, articles[i].paragraphs) for i in english)
            docs = list(self.analysis.pipe(items, batch_size=self.batch_size))
        else:
            docs = list(self.nlp.pipe((articles[i].body for i in english), batch_size=self.batch_size))
        headline_docs = self._headline_docs([articles[i] for i in english])
        spacy_ms = (time.perf_counter() - start) * 1000 / len(english)
        for i, doc, headline_doc in zip(english, docs, headline_docs, strict=True):
            results[i].timings_ms["spacy"] = round(spacy_ms, 3)
            self._extract(doc, headline_doc, articles[i], results[i])
            results[i].quotes = confident(results[i].quotes, self.quote_min_confidence)
        return results

    def _headline_docs(self, articles: Sequence[CleanArticle]) -> list[Any]:
        """NER over the headlines (``ner`` and the trimmer alone, one batch), None for an article
        without one. A headline in capitals gets no pass: the model's NER is unreliable on it, and the
        names the body uses are found in it instead (``extract_entities``)."""
        wanted = [i for i, a in enumerate(articles) if a.headline and not a.headline.isupper()]
        docs: list[Any] = [None] * len(articles)
        if not wanted:
            return docs
        made = [self.nlp.make_doc(articles[i].headline or "") for i in wanted]
        for i, doc in zip(wanted, self._ner.pipe(made, batch_size=self.batch_size), strict=True):
            docs[i] = self._trim(doc)
        return docs

    @staticmethod
    def _extract(doc: Any, headline_doc: Any, article: CleanArticle, result: NlpResult) -> None:
        """Entities, then quotes (which link speakers to entities); an error is kept, not raised."""
        try:
            result.entities = timed(
                result.timings_ms,
                "entities",
                lambda: extract_entities(
                    doc,
                    article.headline,
                    headline_doc=headline_doc,
                    dateline=article.dateline,
                    byline=article.byline,
                ),
            )
        except Exception as exc:  # one bad document must not fail its batch
            result.error = StageError(ErrorCode.E_NLP, Stage.ENTITIES, f"{type(exc).__name__}: {exc}")
            return
        try:
            in_body = body_entities(result.entities)
            result.quotes = timed(
                result.timings_ms, "quotes", lambda: extract_quotes(doc, article.paragraphs, in_body)
            )
        except Exception as exc:
            result.error = StageError(ErrorCode.E_NLP, Stage.QUOTES, f"{type(exc).__name__}: {exc}")
