"""Choosing the cleaning rules for whole web pages by k-fold cross-validation over two benchmarks.

The rules: how the page extractors are combined (``clean.page.choose``: which extractors may replace the
base, and how many times its words they must find), whether the page's own title is taken as the
headline, and each furniture rule of ``clean.furniture`` (by the reason it gives). Pages of both
sources (the article-extraction benchmark and WCXB) are split into ``K`` folds, each source spread evenly.
On each fold's training pages the extraction setting with the best mean of the two sources' F1 is
chosen; then a rule is kept only if turning it off lowers neither source's F1 (a rule that helps one
source and hurts the other is tuned to its source). The chosen setting is scored on the held-out fold,
beside bare trafilatura on the same pages. Every figure is the benchmark's metric (``score_clean.py``
imported from ``$EVAL_DIR``), per source.

Run by ``eval/run_clean.py``; ``python eval/clean_cv.py`` runs it alone and prints the fold table.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import trafilatura

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval._common import EVAL_DIR, RESULTS, SPLIT, read_jsonl  # noqa: E402
from pipeline.errors import StageError  # noqa: E402
from pipeline.stages.clean import assemble  # noqa: E402
from pipeline.stages.clean.html import fragment_paragraphs  # noqa: E402
from pipeline.stages.clean.page import (  # noqa: E402
    EXTRACTORS,
    LONGER,
    SPARED_ON_PAGES,
    choose,
    page_candidates,
    page_title,
)
from schemas.ninjs import RawArticle  # noqa: E402

K = 5
SOURCES = ("zyte", "wcxb")
#: Extraction settings tried: (extractors that may replace the base, how many times the words).
_ALTERNATIVES = (("trafilatura_recall",), ("readability",), EXTRACTORS[1:])
EXTRACTION_GRID: list[tuple[tuple[str, ...], float]] = [
    (EXTRACTORS[:1], 1.0),
    *((EXTRACTORS[:1] + extra, longer) for extra in _ALTERNATIVES for longer in (1.2, 1.5, 2.0, 3.0)),
]
#: Furniture reasons the rules give (``clean.furniture.furniture_reason`` and ``remove_furniture``).
FURNITURE_RULES = (
    "label",
    "agency sign-off",
    "url",
    "caption",
    "credit",
    "date stamp",
    "promotion",
    "short line before the story",
    "block after a furniture heading",
    "author bio",
)
TITLE_RULE = "page title is the headline"


def load_sources() -> list[dict[str, Any]]:
    """The pages of both cleaning sets, each with its ``source``: ``zyte`` or ``wcxb``."""
    pages = [{**p, "source": "zyte"} for p in read_jsonl(EVAL_DIR / "clean" / f"{SPLIT}.jsonl")]
    wcxb = EVAL_DIR / "clean" / f"wcxb_{SPLIT}.jsonl.gz"
    if wcxb.exists():
        with gzip.open(wcxb, "rt", encoding="utf-8") as f:
            pages += [{**json.loads(line), "source": "wcxb"} for line in f if line.strip()]
    return pages


def scorer() -> ModuleType:
    """The shipped ``score_clean.py``, imported so thousands of variants score without a subprocess."""
    spec = importlib.util.spec_from_file_location("score_clean", EVAL_DIR / "score_clean.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {EVAL_DIR / 'score_clean.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Page:
    """One page with everything the variants are built from, computed once."""

    id: str
    source: str
    url: str | None
    gold: str
    candidates: dict[str, list[str]]
    fallback: list[str]
    title: str | None
    trafilatura_text: str
    _memo: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def text(self, extractors: tuple[str, ...], longer: float, title: bool, spare: frozenset[str]) -> str:
        """What the benchmark compares for this variant: the dateline, then the body."""
        pieces = choose({n: self.candidates[n] for n in extractors}, longer=longer) or self.fallback
        key = (id(pieces), title, spare)
        if key not in self._memo:
            raw = RawArticle.model_validate({"uri": self.id, "url": self.url, "html": "<html></html>"})
            try:
                article = assemble(raw, pieces, page_headline=self.title if title else None, spare=spare)
                head = f"{article.dateline.text} " if article.dateline else ""
                self._memo[key] = head + article.body
            except StageError:
                self._memo[key] = ""
        return self._memo[key]


def prepare(pages: Sequence[dict[str, Any]]) -> tuple[list[Page], dict[str, float]]:
    """Run every extractor once per page; CPU seconds per extractor."""
    out, cpu = [], {"candidates": 0.0, "trafilatura_baseline": 0.0}
    for p in pages:
        started = time.process_time()
        candidates = page_candidates(p["html"], p.get("url"))
        fallback = fragment_paragraphs(p["html"])
        title = page_title(p["html"])
        cpu["candidates"] += time.process_time() - started
        started = time.process_time()
        baseline = trafilatura.extract(p["html"], url=p.get("url")) or ""
        cpu["trafilatura_baseline"] += time.process_time() - started
        out.append(Page(p["id"], p["source"], p.get("url"), p["body"], candidates, fallback, title, baseline))
    return out, {k: round(v, 1) for k, v in cpu.items()}


@dataclass(frozen=True)
class Setting:
    """One choice of rules."""

    extractors: tuple[str, ...] = EXTRACTORS
    longer: float = LONGER
    title: bool = True
    spare: frozenset[str] = SPARED_ON_PAGES

    def describe(self) -> dict[str, Any]:
        """The setting as JSON: extractors, factor, title rule, furniture rules turned off."""
        return {
            "extractors": list(self.extractors),
            "longer": self.longer,
            "title_rule": self.title,
            "rules_off": sorted(self.spare),
        }


class Scores:
    """Per-source F1 of a text for each page, with the per-page counts cached."""

    def __init__(self, sc: ModuleType) -> None:
        self.sc = sc
        self._gold: dict[str, Any] = {}
        self._counts: dict[tuple[str, int], tuple[float, float, float]] = {}

    def _page(self, page: Page, text: str) -> tuple[float, float, float]:
        key = (page.id, hash(text))
        if key not in self._counts:
            if page.id not in self._gold:
                self._gold[page.id] = self.sc.shingles(self.sc.words(page.gold))
            gold, pred = self._gold[page.id], self.sc.shingles(self.sc.words(text))
            tp, fp, fn = sum((gold & pred).values()), sum((pred - gold).values()), sum((gold - pred).values())
            total = tp + fp + fn
            self._counts[key] = (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)
        return self._counts[key]

    def f1(self, pages: Sequence[Page], text: Callable[[Page], str]) -> dict[str, float]:
        """F1 per source (the benchmark's definition: F1 of the mean per-page precision and recall)."""
        out = {}
        for source in SOURCES:
            counts = [self._page(p, text(p)) for p in pages if p.source == source]
            if counts:
                out[source] = float(self.sc.aggregate(counts, [0.0] * len(counts))["f1"])
        return out


def _of(setting: Setting) -> Callable[[Page], str]:
    return lambda p: p.text(setting.extractors, setting.longer, setting.title, setting.spare)


def select(pages: Sequence[Page], scores: Scores) -> tuple[Setting, dict[str, dict[str, float]]]:
    """The setting chosen on ``pages``, and what turning each rule off did there (per source)."""

    def mean(setting: Setting) -> float:
        return statistics.mean(scores.f1(pages, _of(setting)).values())

    best = max(
        (Setting(extractors, longer, True, frozenset()) for extractors, longer in EXTRACTION_GRID), key=mean
    )
    with_all = scores.f1(pages, _of(best))
    effects: dict[str, dict[str, float]] = {}
    spare: set[str] = set()
    title = True
    for rule in (TITLE_RULE, *FURNITURE_RULES):
        off = (
            Setting(best.extractors, best.longer, False, frozenset())
            if rule == TITLE_RULE
            else Setting(best.extractors, best.longer, True, frozenset({rule}))
        )
        without = scores.f1(pages, _of(off))
        effects[rule] = {s: round(with_all[s] - without[s], 5) for s in with_all}
        if any(delta < 0 for delta in effects[rule].values()):  # it hurts a source: dropped
            if rule == TITLE_RULE:
                title = False
            else:
                spare.add(rule)
    return Setting(best.extractors, best.longer, title, frozenset(spare)), effects


def folds(pages: Sequence[Page], k: int = K, seed: int = 0) -> list[list[Page]]:
    """``k`` folds with each source's pages dealt out evenly (shuffled with a fixed seed)."""
    out: list[list[Page]] = [[] for _ in range(k)]
    for source in SOURCES:
        mine = [p for p in pages if p.source == source]
        random.Random(seed).shuffle(mine)
        for i, page in enumerate(mine):
            out[i % k].append(page)
    return out


def cross_validate(pages: Sequence[Page], scores: Scores, k: int = K) -> dict[str, Any]:
    """Fold by fold: the setting chosen on the other folds, scored on this one, beside trafilatura."""
    rows = []
    parts = folds(pages, k)
    for i, test in enumerate(parts):
        train = [p for j, part in enumerate(parts) if j != i for p in part]
        setting, _ = select(train, scores)
        rows.append(
            {
                "fold": i,
                "pages": {s: sum(p.source == s for p in test) for s in SOURCES},
                "setting": setting.describe(),
                "f1": scores.f1(test, _of(setting)),
                "trafilatura_f1": scores.f1(test, lambda p: p.trafilatura_text),
            }
        )
    summary: dict[str, Any] = {}
    for source in SOURCES:
        ours = [r["f1"][source] for r in rows if source in r["f1"]]
        theirs = [r["trafilatura_f1"][source] for r in rows if source in r["trafilatura_f1"]]
        if ours:
            summary[source] = {
                "f1_mean": round(statistics.mean(ours), 4),
                "f1_std": round(statistics.stdev(ours), 4) if len(ours) > 1 else 0.0,
                "trafilatura_f1_mean": round(statistics.mean(theirs), 4),
                "trafilatura_f1_std": round(statistics.stdev(theirs), 4) if len(theirs) > 1 else 0.0,
                "folds_above_trafilatura": sum(a > b for a, b in zip(ours, theirs, strict=True)),
            }
    chosen, effects = select(pages, scores)
    return {
        "k": k,
        "folds": rows,
        "summary": summary,
        "chosen_on_all_pages": chosen.describe(),
        "production_setting": Setting().describe(),
        "rule_effects_on_all_pages": effects,
    }


def print_table(cv: dict[str, Any]) -> None:
    """Fold figures per source, ours beside trafilatura."""
    print(f"cleaning CV, {cv['k']} folds     " + "".join(f"{s:>22}" for s in SOURCES))
    for row in cv["folds"]:
        cells = "".join(
            f"{row['f1'].get(s, 0):>11.4f} / {row['trafilatura_f1'].get(s, 0):.4f}" for s in SOURCES
        )
        print(f"  fold {row['fold']} (ours / trafilatura){cells}")
    cells = "".join(
        f"  {cv['summary'][s]['f1_mean']:.4f}±{cv['summary'][s]['f1_std']:.4f}"
        f" / {cv['summary'][s]['trafilatura_f1_mean']:.4f}"
        for s in SOURCES
        if s in cv["summary"]
    )
    print(f"  mean±std              {cells}")
    print(f"  chosen on all pages: {cv['chosen_on_all_pages']}")


def main() -> int:
    pages, cpu = prepare(load_sources())
    cv = cross_validate(pages, Scores(scorer()))
    cv["cpu_s"] = cpu
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "clean_cv.json").write_text(json.dumps(cv, indent=2) + "\n", encoding="utf-8")
    print_table(cv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
