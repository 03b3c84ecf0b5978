"""CPU time of the entity and quote extraction per article, after spaCy: what the worker's executor
thread pays on top of ``nlp.pipe``.

Usage:
    .venv/bin/python bench/extract_cost.py [--n 300] [--profile]

The first N lines of ``$EVAL_DIR/corpus/articles.jsonl`` (read, never copied) go through ``ingest``
(decode and clean, as the worker does); the bodies are parsed once with the pipeline's model; then
``extract_entities`` and ``extract_quotes`` run over every parse and their process CPU time is divided
by the number of articles. ``--profile`` also prints the 15 most expensive functions (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import pstats
import time
from pathlib import Path

from pipeline.enricher import Enricher
from pipeline.envelope import Envelope, Limits, Source
from pipeline.process import ingest
from pipeline.settings import get_settings
from pipeline.stages.entities import extract_entities
from pipeline.stages.quotes import extract_quotes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    corpus = Path(os.environ.get("EVAL_DIR", "../shared/eval")) / "corpus" / "articles.jsonl"
    enricher = Enricher(get_settings().spacy_model)
    versions: dict[str, object] = {}
    articles = []
    with corpus.open("rb") as lines:
        for offset, line in enumerate(itertools.islice(lines, args.n)):
            step = ingest(Source(value=line.rstrip(), topic="bench", offset=offset), versions, Limits())
            if isinstance(step, Envelope):
                articles.append(step.article)
    docs = list(enricher.nlp.pipe((a.body for a in articles), batch_size=16))

    def extract() -> None:
        for doc, article in zip(docs, articles, strict=True):
            extract_quotes(doc, article.paragraphs, extract_entities(doc, article.headline))

    started = time.process_time()
    extract()
    cpu_ms = (time.process_time() - started) * 1000 / len(articles)
    print(f"{len(articles)} articles: entities + quotes {cpu_ms:.2f} CPU ms per article")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(extract)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
