"""Where spaCy's time goes on wire articles, and what selective analysis can save of it.

Usage:
    .venv/bin/python bench/analysis_cost.py [--n 400] [--rounds 3]

The first N lines of ``$EVAL_DIR/corpus/articles.jsonl`` (read, never copied) are cleaned as the worker
cleans them. Then, in this process, each figure in CPU ms per article (process time; the best of
``--rounds`` rounds, since one process's first rounds also pay for warming caches):

- ``full``: the bare model's ``nlp.pipe`` (the bench's baseline), and each of its components alone
  over the same tokenised bodies (``tok2vec`` is the tagger's and the parser's; ``ner`` has its own);
  then the same on numpy's BLAS (``pipeline/stages/analysis/blas.py``), to show what the BLAS alone changes;
- ``selective``: what ``SelectiveAnalysis`` parses (sentences and tokens) with its default context of
  one sentence either side of a quoted stretch, and with none (cue sentences only);
- ``enricher``: the whole NLP step of the worker (``Enricher``: analysis, entities, quotes) with the
  selective analysis and with the full pipeline, each on numpy's BLAS (the default) and on blis;
- ``same_output``: the share of articles whose entities and whose quotes are identical on either BLAS;
- ``agreement``: within the parsed stretches, the share of tokens whose head and dependency label are
  the full pipeline's (where the sentence recogniser drew other boundaries than the parser, they differ).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

import spacy
from spacy.language import Language

from pipeline.enricher import Enricher, NlpResult
from pipeline.envelope import Envelope, Limits, Source
from pipeline.models import CleanArticle
from pipeline.process import ingest
from pipeline.settings import get_settings
from pipeline.stages.analysis import SelectiveAnalysis
from pipeline.stages.analysis.blas import model_ops

BATCH = 16


def _articles(n: int) -> list[CleanArticle]:
    corpus = Path(os.environ.get("EVAL_DIR", "../shared/eval")) / "corpus" / "articles.jsonl"
    versions: dict[str, object] = {}
    out: list[CleanArticle] = []
    with corpus.open("rb") as lines:
        for offset, line in enumerate(lines):
            if len(out) >= n:
                break
            step = ingest(Source(value=line.rstrip(), topic="bench", offset=offset), versions, Limits())
            if isinstance(step, Envelope):
                out.append(step.article)
    return out


def _best_ms(run: Callable[[], object], count: int, rounds: int) -> float:
    """The least process CPU of ``rounds`` calls, in ms per article."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return round(best * 1000 / count, 2)


def _components(nlp: Language, bodies: list[str], rounds: int) -> dict[str, float]:
    docs = [nlp.make_doc(b) for b in bodies]
    out = {"nlp.pipe": _best_ms(lambda: list(nlp.pipe(bodies, batch_size=BATCH)), len(bodies), rounds)}
    for name in nlp.pipe_names:
        step = nlp.get_pipe(name)
        if hasattr(step, "pipe"):
            out[name] = _best_ms(lambda s=step: list(s.pipe(docs, batch_size=BATCH)), len(docs), rounds)
        else:
            out[name] = _best_ms(lambda s=step: [s(d) for d in docs], len(docs), rounds)
    return out


def _agreement(full: Language, analysis: SelectiveAnalysis, articles: list[CleanArticle]) -> float:
    """Share of parsed tokens whose head and label match the full pipeline's."""
    same = parsed = 0
    items = [(a.body, a.paragraphs) for a in articles]
    for doc, reference in zip(
        analysis.pipe(items), full.pipe((a.body for a in articles), batch_size=BATCH), strict=True
    ):
        for token, ref in zip(doc, reference, strict=True):
            if token.dep_:
                parsed += 1
                same += token.head.i == ref.head.i and token.dep_ == ref.dep_
    return round(same / max(parsed, 1), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    model = get_settings().spacy_model
    articles = _articles(args.n)
    bodies = [a.body for a in articles]
    bare = spacy.load(model)
    print(f"{len(articles)} articles, {sum(len(b.split()) for b in bodies)} words; model {model}")
    print("full, CPU ms per article:", _components(bare, bodies, args.rounds))
    with model_ops("numpy"):
        bare_numpy = spacy.load(model)
    print("full on numpy's BLAS, CPU ms per article:", _components(bare_numpy, bodies, args.rounds))

    selective = Enricher(model, batch_size=BATCH, selective=True)
    for context in (1, 0):
        analysis = SelectiveAnalysis(selective.nlp, context=context, batch_size=BATCH)
        list(analysis.pipe((a.body, a.paragraphs) for a in articles))
        shares = analysis.total.shares()
        print(f"selective, context {context}:", shares)

    full = Enricher(model, batch_size=BATCH, selective=False)
    selective_blis = Enricher(model, batch_size=BATCH, selective=True, blas="blis")
    full_blis = Enricher(model, batch_size=BATCH, selective=False, blas="blis")

    def enrich(enricher: Enricher) -> list[NlpResult]:
        results: list[NlpResult] = []
        for i in range(0, len(articles), BATCH):
            results += enricher(articles[i : i + BATCH])
        return results

    print(
        "enricher, CPU ms per article:",
        {
            "selective": _best_ms(lambda: enrich(selective), len(articles), args.rounds),
            "full": _best_ms(lambda: enrich(full), len(articles), args.rounds),
            "selective_blis": _best_ms(lambda: enrich(selective_blis), len(articles), args.rounds),
            "full_blis": _best_ms(lambda: enrich(full_blis), len(articles), args.rounds),
        },
    )
    pairs = list(zip(enrich(selective), enrich(selective_blis), strict=True))
    print(
        "same output on numpy's BLAS and blis (share of articles):",
        {
            "entities": round(sum(a.entities == b.entities for a, b in pairs) / max(len(pairs), 1), 4),
            "quotes": round(sum(a.quotes == b.quotes for a, b in pairs) / max(len(pairs), 1), 4),
        },
    )
    assert selective.analysis is not None
    print(
        "agreement of the selective parse with the full one:", _agreement(bare, selective.analysis, articles)
    )


if __name__ == "__main__":
    main()
