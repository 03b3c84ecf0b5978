"""Corpus word-loss report for the cleaning stage, and dateline accuracy against Reuters' own field.

Runs ``clean`` over ``$EVAL_DIR/corpus/articles.jsonl`` (ninjs 1.x records). For each article it counts
the words (\\w+ runs) of the input text (HTML tags and entities resolved, nothing else removed) and of
what cleaning keeps (dateline + body), and reports how many articles lose more than 20% of their words,
with a sample of what was removed (input lines none of whose words survive). ``meta.jsonl`` carries the
gold DATELINE field; extracted datelines are compared after whitespace normalisation.

Writes ``eval/results/clean_loss.json``. Env: ``EVAL_DIR``, ``CLEAN_LOSS_SAMPLE`` (default 15).
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval._common import EVAL_DIR, RESULTS, read_jsonl  # noqa: E402
from pipeline.errors import StageError  # noqa: E402
from pipeline.stages.clean import clean  # noqa: E402
from schemas.ninjs import RawArticle  # noqa: E402

SAMPLE = int(os.environ.get("CLEAN_LOSS_SAMPLE", "15"))
WORD = re.compile(r"\w+")
TAG = re.compile(r"<[^>]*>")


def input_text(rec: dict[str, Any]) -> str:
    if rec.get("body_html"):
        return html.unescape(TAG.sub("\n", rec["body_html"]))
    return str(rec.get("body_text") or "")


def squash(text: str) -> str:
    return " ".join(text.split())


def main() -> int:
    records = read_jsonl(EVAL_DIR / "corpus" / "articles.jsonl")
    meta_path = EVAL_DIR / "corpus" / "meta.jsonl"
    meta = {}
    if meta_path.exists():
        meta = {m["uri"]: m for m in read_jsonl(meta_path)}
    losses: list[dict[str, Any]] = []
    errors: Counter[str] = Counter()
    dl_total = dl_right = dl_found = dl_spurious = 0
    dl_misses: list[dict[str, str | None]] = []
    cpu_ms: dict[str, list[float]] = {}
    started = time.perf_counter()
    for rec in records:
        raw = RawArticle.model_validate(rec)
        cpu_started = time.process_time()
        try:
            art = clean(raw)
        except StageError as err:
            errors[str(err.code)] += 1
            continue
        finally:
            kind = "body_html" if rec.get("body_html") else "body_text" if rec.get("body_text") else "other"
            cpu_ms.setdefault(kind, []).append(1000 * (time.process_time() - cpu_started))
        kept_text = (art.dateline.text + " " if art.dateline else "") + art.body
        before, after = WORD.findall(input_text(rec)), WORD.findall(kept_text)
        lost = 1 - len(after) / len(before) if before else 0.0
        kept_words = Counter(after)
        removed = [
            squash(line)
            for line in input_text(rec).split("\n")
            if WORD.search(line) and not any(kept_words[w] for w in WORD.findall(line))
        ]
        losses.append({"uri": raw.uri, "lost": round(lost, 3), "removed": removed})
        gold = (meta.get(raw.uri) or {}).get("dateline")
        got = art.dateline.text if art.dateline else None
        if gold:
            dl_total += 1
            dl_found += got is not None
            if got is not None and squash(got) == squash(gold):
                dl_right += 1
            elif len(dl_misses) < 200:
                dl_misses.append({"uri": raw.uri, "gold": squash(gold), "got": got})
        elif got is not None:
            dl_spurious += 1
    seconds = time.perf_counter() - started

    over = [x for x in losses if x["lost"] > 0.20]
    removed_lines = Counter(line for x in losses for line in x["removed"])
    rng = random.Random(0)
    sample = rng.sample(losses, min(SAMPLE, len(losses)))
    report = {
        "articles": len(records),
        "stage_errors": dict(errors),
        "over_20pct_loss": len(over),
        "over_20pct": [{"uri": x["uri"], "lost": x["lost"], "removed": x["removed"][:5]} for x in over],
        "mean_loss": round(sum(x["lost"] for x in losses) / max(len(losses), 1), 4),
        "most_removed_lines": removed_lines.most_common(20),
        "sample_removed": [{"uri": x["uri"], "lost": x["lost"], "removed": x["removed"][:5]} for x in sample],
        "dateline": {
            "gold": dl_total,
            "exact": dl_right,
            "accuracy": round(dl_right / dl_total, 4) if dl_total else None,
            "found": dl_found,
            "spurious_without_gold": dl_spurious,
            "misses": dl_misses[:40],
        },
        "articles_per_s": round(len(records) / seconds, 1),
        # CPU ms of ``clean`` alone per article, by the field the body came in (what the stream mostly sees).
        "clean_cpu_ms_per_article": {k: round(sum(v) / len(v), 3) for k, v in sorted(cpu_ms.items())},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "clean_loss.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(
        f"clean corpus: {len(records)} articles, {len(over)} lose >20% of their words, "
        f"mean loss {report['mean_loss']:.3f}, errors {dict(errors)}, "
        f"{report['articles_per_s']} articles/s, clean CPU ms/article {report['clean_cpu_ms_per_article']}"
    )
    print(
        f"  datelines: {dl_right}/{dl_total} exact ({report['dateline']['accuracy']}), found {dl_found}, "
        f"spurious (no gold) {dl_spurious}"
    )
    print("  most removed lines:", removed_lines.most_common(8))
    return 0


if __name__ == "__main__":
    sys.exit(main())
