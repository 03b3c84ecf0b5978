"""Cleaning eval: the clean stage on whole web pages against bare trafilatura and bare readability-lxml.

Reads ``$EVAL_DIR/clean/$EVAL_SPLIT.jsonl`` ({id, source, url, html, body}); each page goes in as a
``{uri, url, html}`` record (so ``RawArticle`` holds ``body=html, body_kind="html"``). The gold bodies
keep the dateline and leave the headline out, so the pipeline's scored text is its dateline (when one
was pulled out) followed by the clean body; the headline is not added. All three systems are scored
by ``$EVAL_DIR/score_clean.py``.

Writes ``eval/results/clean.json`` (figures side by side, stage pages/s) and one prediction file per
system next to it. Env: ``EVAL_DIR`` (default ``../shared/eval`` from the repo), ``EVAL_SPLIT``
(default ``dev``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lxml.html
import trafilatura
from readability import Document

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval._common import EVAL_DIR, RESULTS, SPLIT, read_jsonl, score, write_jsonl  # noqa: E402
from pipeline.errors import StageError  # noqa: E402
from pipeline.models import CleanArticle  # noqa: E402
from pipeline.stages.clean import clean  # noqa: E402
from schemas.ninjs import RawArticle  # noqa: E402

_BLOCKS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "pre", "td")


def scored_text(article: CleanArticle) -> str:
    """What the benchmark compares: the dateline (part of the gold bodies) then the paragraphs."""
    head = f"{article.dateline.text} " if article.dateline else ""
    return head + article.body


def pipeline_body(page: dict[str, Any], errors: Counter[str]) -> str | None:
    # RawArticle's shape normaliser reads ninjs field names, not ``body``/``body_kind`` keywords: a page
    # arrives as a ``url`` plus ``html`` record.
    raw = RawArticle.model_validate({"uri": page["id"], "url": page.get("url"), "html": page["html"]})
    try:
        return scored_text(clean(raw))
    except StageError as err:
        errors[str(err.code)] += 1
        return None


def trafilatura_body(page: dict[str, Any]) -> str | None:
    result: str | None = trafilatura.extract(page["html"], url=page.get("url"))
    return result


def readability_body(page: dict[str, Any]) -> str | None:
    summary = Document(page["html"]).summary(html_partial=True)
    if not summary.strip():
        return None
    root = lxml.html.fromstring(summary)
    # Block ends become line breaks so words of adjacent paragraphs do not run together.
    for el in root.iter(*_BLOCKS):
        el.tail = "\n" + (el.tail or "")
    text: str = root.text_content()
    return text


Extractor = Callable[[dict[str, Any]], str | None]


def run(name: str, pages: list[dict[str, Any]], extract: Extractor) -> dict[str, Any]:
    pred_path = RESULTS / f"clean_pred_{name}.jsonl"
    started = time.perf_counter()
    rows = [{"id": p["id"], "body": extract(p)} for p in pages]
    seconds = time.perf_counter() - started
    write_jsonl(pred_path, rows, ensure_ascii=False)
    figures = score("score_clean.py", EVAL_DIR / "clean" / f"{SPLIT}.jsonl", pred_path)
    figures["seconds"] = round(seconds, 3)
    figures["pages_per_s"] = round(len(pages) / seconds, 1)
    return figures


def main() -> int:
    pages = read_jsonl(EVAL_DIR / "clean" / f"{SPLIT}.jsonl")
    RESULTS.mkdir(parents=True, exist_ok=True)
    errors: Counter[str] = Counter()
    result: dict[str, Any] = {
        "split": SPLIT,
        "pages": len(pages),
        "pipeline": run("pipeline", pages, lambda p: pipeline_body(p, errors)),
        "trafilatura": run("trafilatura", pages, trafilatura_body),
        "readability": run("readability", pages, readability_body),
    }
    result["pipeline"]["stage_errors"] = dict(errors)
    if (EVAL_DIR / "corpus" / "articles.jsonl").exists():
        # The corpus word-loss and dateline report rides along so `make eval` shows every cleaning figure.
        subprocess.run(
            [sys.executable, str(REPO / "eval" / "clean_loss.py")],
            check=True,
            env={**os.environ, "EVAL_DIR": str(EVAL_DIR)},
        )
        loss = json.loads((RESULTS / "clean_loss.json").read_text("utf-8"))
        result["corpus"] = {
            k: loss[k] for k in ("articles", "over_20pct_loss", "mean_loss", "stage_errors", "articles_per_s")
        }
        result["corpus"]["dateline"] = {k: v for k, v in loss["dateline"].items() if k != "misses"}
    (RESULTS / "clean.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"clean ({SPLIT}, {len(pages)} pages)      F1      P      R   acc  pages/s")
    for name in ("pipeline", "trafilatura", "readability"):
        f = result[name]
        print(
            f"  {name:<12} {f['f1']:.4f}±{f['f1_std']:.3f} {f['precision']:.4f} {f['recall']:.4f}"
            f" {f['accuracy']:.3f} {f['pages_per_s']:7.1f}"
        )
    if errors:
        print(f"  pipeline stage errors: {dict(errors)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
