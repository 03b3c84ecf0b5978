"""Cleaning eval: whole web pages of two benchmarks, the clean stage and the product against bare
trafilatura and bare readability-lxml, and the rules chosen by cross-validation.

Reads ``$EVAL_DIR/clean/$EVAL_SPLIT.jsonl`` (the article-extraction benchmark, "zyte") and
``$EVAL_DIR/clean/wcxb_$EVAL_SPLIT.jsonl.gz`` (WCXB article pages), each ``{id, source, url, html,
body}``. Each page goes in as a ``{uri, url, html}`` record. "stage" calls ``clean`` on it; "product"
sends it through ``wirepipe enrich``'s path (``eval/product.py``: decode, version check, clean, the
published record; NLP left out, it does not change the text). The gold bodies keep the dateline and
leave the headline out, so the scored text is the dateline (when one was pulled out) followed by the
body. All systems are scored with ``$EVAL_DIR/score_clean.py`` (its functions, imported: the WCXB gold is
gzipped), and each one's CPU milliseconds per page are recorded. The stage's extractor outputs are kept
as it runs and feed ``eval/clean_cv.py``: k-fold cross-validation of the page rules over both sources,
with per-fold figures beside trafilatura's.

Writes ``eval/results/clean.json`` (the zyte figures at the top level as before, WCXB under ``wcxb``,
the cross-validation under ``cv``) and one prediction file per system and source next to it.
Env: ``EVAL_DIR`` (default ``../shared/eval`` from the repo), ``EVAL_SPLIT`` (default ``dev``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lxml.html
import trafilatura
from readability import Document

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval import clean_cv  # noqa: E402
from eval._common import EVAL_DIR, RESULTS, SPLIT, write_jsonl  # noqa: E402
from eval.product import NoNlp, run_product, scored_page_text  # noqa: E402
from pipeline.errors import StageError  # noqa: E402
from pipeline.models import CleanArticle  # noqa: E402
from pipeline.stages.clean import article as clean_module  # noqa: E402
from pipeline.stages.clean import clean  # noqa: E402
from pipeline.stages.clean.html import fragment_paragraphs  # noqa: E402
from pipeline.stages.clean.page import choose, page_candidates, page_title  # noqa: E402
from schemas.ninjs import RawArticle  # noqa: E402

_BLOCKS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "pre", "td")
Extractor = Callable[[dict[str, Any]], str | None]


def scored_text(article: CleanArticle) -> str:
    """What the benchmark compares: the dateline (part of the gold bodies) then the paragraphs."""
    head = f"{article.dateline.text} " if article.dateline else ""
    return head + article.body


def record(page: dict[str, Any]) -> dict[str, Any]:
    """The raw record a page goes in as (``RawArticle`` reads ``html`` as a whole-page body)."""
    return {"uri": page["id"], "url": page.get("url"), "html": page["html"]}


@contextmanager
def recording(store: dict[str, dict[str, list[str]]], page_id: list[str]) -> Iterator[None]:
    """While the stage runs, keep each page's extractor outputs (the stage's own calls, unchanged)."""
    original = clean_module.page_paragraphs

    def page_paragraphs(markup: str, url: str | None) -> list[str]:
        candidates = page_candidates(markup, url)
        store[page_id[0]] = candidates
        return choose(candidates)

    clean_module.page_paragraphs = page_paragraphs  # type: ignore[assignment]
    try:
        yield
    finally:
        clean_module.page_paragraphs = original  # type: ignore[assignment]


def trafilatura_body(page: dict[str, Any]) -> str | None:
    result: str | None = trafilatura.extract(page["html"], url=page.get("url"))
    return result


def readability_body(page: dict[str, Any]) -> str | None:
    try:
        summary = Document(page["html"]).summary(html_partial=True)
    except Exception:  # readability gives up on some pages; that page scores as empty
        return None
    if not summary.strip():
        return None
    root = lxml.html.fromstring(summary)
    # Block ends become line breaks so words of adjacent paragraphs do not run together.
    for el in root.iter(*_BLOCKS):
        el.tail = "\n" + (el.tail or "")
    text: str = root.text_content()
    return text


def figures(sc: Any, pages: list[dict[str, Any]], bodies: dict[str, str | None]) -> dict[str, Any]:
    gold = {p["id"]: {"body": p["body"]} for p in pages}
    pred = {i: {"body": b} for i, b in bodies.items()}
    result: dict[str, Any] = sc.score(gold, pred, n_boot=1000)
    return result


def timed(extract: Extractor, pages: list[dict[str, Any]], cpu: dict[str, float]) -> dict[str, str | None]:
    """``extract`` on every page, adding each page's CPU milliseconds to ``cpu`` by page id."""
    out: dict[str, str | None] = {}
    for page in pages:
        started = time.process_time()
        out[page["id"]] = extract(page)
        cpu[page["id"]] = cpu.get(page["id"], 0.0) + 1000 * (time.process_time() - started)
    return out


def main() -> int:
    pages = clean_cv.load_sources()
    sc = clean_cv.scorer()
    RESULTS.mkdir(parents=True, exist_ok=True)
    candidates: dict[str, dict[str, list[str]]] = {}
    current: list[str] = [""]
    errors: Counter[str] = Counter()

    def stage_body(page: dict[str, Any]) -> str | None:
        current[0] = page["id"]
        try:
            return scored_text(clean(RawArticle.model_validate(record(page))))
        except StageError as err:
            errors[str(err.code)] += 1
            return None

    # CPU ms per page and system: the cost of cleaning one page, comparable across systems in one run.
    cpu: dict[str, dict[str, float]] = {name: {} for name in ("pipeline", "trafilatura", "readability")}
    outputs: dict[str, dict[str, str | None]] = {}
    with recording(candidates, current):
        outputs["pipeline"] = timed(stage_body, pages, cpu["pipeline"])
    started = time.process_time()
    published = run_product((record(p) for p in pages), NoNlp())
    product_cpu_ms = 1000 * (time.process_time() - started) / len(pages)
    outputs["product"] = {p["id"]: scored_page_text(r) for p, r in zip(pages, published, strict=True)}
    outputs["trafilatura"] = timed(trafilatura_body, pages, cpu["trafilatura"])
    outputs["readability"] = timed(readability_body, pages, cpu["readability"])

    result: dict[str, Any] = {"split": SPLIT}
    for source in clean_cv.SOURCES:
        mine = [p for p in pages if p["source"] == source]
        if not mine:
            continue
        ids = {p["id"] for p in mine}
        block: dict[str, Any] = {"pages": len(mine)}
        for name, bodies in outputs.items():
            write_jsonl(
                RESULTS / f"clean_pred_{source}_{name}.jsonl",
                [{"id": i, "body": b} for i, b in bodies.items() if i in ids],
                ensure_ascii=False,
            )
            block[name] = figures(sc, mine, {i: b for i, b in bodies.items() if i in ids})
            if name in cpu:
                block[name]["cpu_ms_per_page"] = round(sum(cpu[name][i] for i in ids) / len(ids), 1)
        # The product ran over both sources in one pass: its CPU is a mean over all pages.
        block["product"]["cpu_ms_per_page_all_sources"] = round(product_cpu_ms, 1)
        block["pipeline"]["stage_errors"] = dict(errors)
        if source == "zyte":
            result.update(block)
        else:
            result[source] = block

    prepared = [
        clean_cv.Page(
            p["id"],
            p["source"],
            p.get("url"),
            p["body"],
            candidates.get(p["id"]) or page_candidates(p["html"], p.get("url")),
            fragment_paragraphs(p["html"]),
            page_title(p["html"]),
            outputs["trafilatura"][p["id"]] or "",
        )
        for p in pages
    ]
    result["cv"] = clean_cv.cross_validate(prepared, clean_cv.Scores(sc))

    if (EVAL_DIR / "corpus" / "articles.jsonl").exists():
        # The corpus word-loss and dateline report rides along so `make eval` shows every cleaning figure.
        subprocess.run(
            [sys.executable, str(REPO / "eval" / "clean_loss.py")],
            check=True,
            env={**os.environ, "EVAL_DIR": str(EVAL_DIR)},
        )
        loss = json.loads((RESULTS / "clean_loss.json").read_text("utf-8"))
        result["corpus"] = {
            k: loss[k]
            for k in (
                "articles",
                "over_20pct_loss",
                "mean_loss",
                "stage_errors",
                "articles_per_s",
                "clean_cpu_ms_per_article",
            )
        }
        result["corpus"]["dateline"] = {k: v for k, v in loss["dateline"].items() if k != "misses"}
    (RESULTS / "clean.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    for source in clean_cv.SOURCES:
        block = result if source == "zyte" else result.get(source)
        if not block:
            continue
        print(f"clean {source} ({SPLIT}, {block['pages']} pages)      F1      P      R   acc  CPU ms/page")
        for name in ("pipeline", "product", "trafilatura", "readability"):
            f = block[name]
            ms = f.get("cpu_ms_per_page", f.get("cpu_ms_per_page_all_sources"))
            print(
                f"  {name:<12} {f['f1']:.4f}±{f['f1_std']:.3f} {f['precision']:.4f} {f['recall']:.4f}"
                f" {f['accuracy']:.3f} {ms:>8.1f}"
            )
    if errors:
        print(f"  pipeline stage errors: {dict(errors)}")
    clean_cv.print_table(result["cv"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
