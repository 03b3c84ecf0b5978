"""Dedup state size and cost: bytes of store state per 100k articles, and time per unique/duplicate.

Usage:
    .venv/bin/python bench/dedup_state.py [--n 100000] [--seed 7] [--out bench/results/dedup_state.json]

Articles are synthesised from ``$EVAL_DIR/corpus/articles.jsonl`` (read, never copied). Each one picks
a random corpus article (cleaned as the eval does) and, by a seeded draw:

- 80% "new story": its sentences shuffled and 30% of its words replaced by words drawn from the
  whole corpus vocabulary (Jaccard to anything earlier well under 0.5), uri ``urn:newsml:wirepipe.bench:<n>``;
- 10% exact copy of an earlier synthetic article under a new uri;
- 10% near copy of an earlier one: one sentence replaced by a sentence of another article.

Everything runs through ``dedup_key`` (the hashing done in agent A) and ``dedup`` (the index step in
agent B) with a plain-dict store, one simulated second per article, so nothing expires during the run
(100k s is 1.2 days, inside the 7-day retention). State is measured as UTF-8 JSON key + value, what a
changelog record carries; 10M is extrapolated linearly (every entry is per article; buckets hold one
article each unless texts collide).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.models import CleanArticle  # noqa: E402
from pipeline.stages.dedup import dedup, dedup_key, state_bytes  # noqa: E402

_TAG = re.compile(r"<[^>]+>")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _corpus_texts() -> list[tuple[str, str]]:
    path = Path(os.environ.get("EVAL_DIR", REPO.parent / "shared" / "eval")) / "corpus" / "articles.jsonl"
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            body = rec.get("body_text") or html.unescape(_TAG.sub(" ", rec.get("body_html") or ""))
            out.append((rec.get("headline") or "", " ".join(body.split())))
    return out


def _summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {}
    s = sorted(samples)
    return {
        "n": len(s),
        "mean_us": round(statistics.fmean(s) * 1e6, 1),
        "median_us": round(s[len(s) // 2] * 1e6, 1),
        "p99_us": round(s[int(len(s) * 0.99)] * 1e6, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "dedup_state.json")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    corpus = _corpus_texts()
    vocab = [w for _, body in corpus for w in body.split()]
    made: list[tuple[str, str]] = []
    store: dict[str, Any] = {}
    timings: dict[str, dict[str, list[float]]] = {}
    verdict_counts: dict[str, int] = {}
    made_as: dict[str, int] = {}  # how each synthetic kind was judged: a sanity check of the data
    t0 = 1_700_000_000.0
    for i in range(args.n):
        draw = rng.random()
        if made and draw < 0.10:
            kind, (headline, body) = "exact_copy", rng.choice(made)
        elif made and draw < 0.20:
            kind = "near_copy"
            headline, body = rng.choice(made)
            sents = _SENTENCE.split(body)
            sents[rng.randrange(len(sents))] = rng.choice(_SENTENCE.split(rng.choice(corpus)[1]))
            body = " ".join(sents)
        else:
            kind = "new_story"
            headline, body = rng.choice(corpus)
            sents = _SENTENCE.split(body)
            rng.shuffle(sents)
            words = " ".join(sents).split()
            for j in rng.sample(range(len(words)), len(words) * 3 // 10):
                words[j] = rng.choice(vocab)
            body = " ".join(words) or "empty"
        made.append((headline, body))
        article = CleanArticle(
            uri=f"urn:newsml:wirepipe.bench:{i:09d}", version=1, headline=headline, body=body
        )

        start = time.perf_counter()
        key = dedup_key(article)
        hashed = time.perf_counter()
        verdict = dedup(store, key, now=t0 + i)
        done = time.perf_counter()
        verdict_counts[verdict.status] = verdict_counts.get(verdict.status, 0) + 1
        made_as[f"{kind} -> {verdict.status}"] = made_as.get(f"{kind} -> {verdict.status}", 0) + 1
        per = timings.setdefault(verdict.status, {"hash": [], "index": [], "total": []})
        per["hash"].append(hashed - start)
        per["index"].append(done - hashed)
        per["total"].append(done - start)

    keys = list(store)
    total = state_bytes(store, keys)
    by_prefix: dict[str, int] = {}
    for k in keys:
        prefix = k.split(":", 1)[0]
        by_prefix[prefix] = by_prefix.get(prefix, 0) + state_bytes(store, [k])
    indexed = verdict_counts.get("unique", 0) + verdict_counts.get("near_duplicate", 0)
    result = {
        "articles": args.n,
        "uri_chars": len(f"urn:newsml:wirepipe.bench:{0:09d}"),
        "verdicts": verdict_counts,
        "synthetic_kind_to_verdict": made_as,
        "store_keys": len(keys),
        "state_bytes": total,
        "bytes_per_article": round(total / args.n, 1),
        "bytes_per_indexed_article": round(total / max(indexed, 1), 1),
        "bytes_per_article_by_prefix": {p: round(b / args.n, 1) for p, b in sorted(by_prefix.items())},
        "estimate_10M_articles_GB": round(total / args.n * 10_000_000 / 1e9, 2),
        "dedup_key_json_bytes_mean": None,
        "timing_by_verdict": {
            status: {part: _summary(samples) for part, samples in per.items()}
            for status, per in timings.items()
        },
    }
    sample_keys = [
        dedup_key(CleanArticle(uri=f"urn:x:{i}", version=1, body=b)) for i, (_, b) in enumerate(made[:500])
    ]
    result["dedup_key_json_bytes_mean"] = round(statistics.fmean(len(k.to_json()) for k in sample_keys), 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
