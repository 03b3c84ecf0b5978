"""The update path's cost (phase ``update_path``): what an ``update`` costs beyond the article it carries.

A later version of a story is enriched like any article; what it adds is the comparison with the story's
last published version (``pipeline.stages.changes.track``: the record's ``changes``, the quotes' fates, the
snapshot to keep) and, in a worker, the snapshot's trip through the ``stories`` table: read and decoded
before the NLP batch, encoded and written after it. Both are timed here in the bench's own process, on
``eval/run_changes.py``'s realistic updates of corpus articles (the first number changed, a paragraph
added), and set against the CPU one article costs: the one-worker phase's CPU per article when it ran (the
worker with its NLP process), else the NLP alone in this process (a smaller denominator: a higher share).
"""

from __future__ import annotations

from typing import Any

from bench.harness import Bench
from eval.run_changes import TIMED_ARTICLES, measure_cost
from pipeline.enricher import Enricher
from pipeline.settings import Settings


def phase_update_path(bench: Bench) -> dict[str, Any]:
    settings = Settings()
    enricher = Enricher(settings.spacy_model, batch_size=settings.batch_size, blas=settings.blas)
    cost = measure_cost(enricher)
    update_ms = cost["track_cpu_ms_per_update"] + cost["table_round_trip_cpu_ms_per_update"]
    one = bench.results.get("one_worker", {})
    worker_s = sum(v for k, v in one.get("cpu_seconds", {}).items() if k.startswith("one_worker.w"))
    article_ms, basis = cost["nlp_cpu_ms_per_article"], "the NLP alone, in the bench's process"
    if worker_s and one.get("articles"):
        article_ms = 1000 * worker_s / one["articles"]
        basis = "one_worker phase: the worker with its NLP process"
    return {
        "articles_timed": TIMED_ARTICLES,
        **cost,
        "update_path_cpu_ms": round(update_ms, 3),
        "article_cpu_ms": round(article_ms, 2),
        "article_cpu_basis": basis,
        "update_path_share_of_article": round(update_ms / article_ms, 4) if article_ms else None,
    }
