"""The pieces of quote-confidence calibration that the calibration script and the quotes eval share.

- ``verdicts``: what the shipped scorer (``score_quotes.py``, imported from ``$EVAL_DIR``) makes of each
  predicted scorer row in its all-kinds view with token-overlap matching: whether it is paired with a gold
  attribution (``real``); whether it is then the scorer's quote+speaker true positive (``quote_and_speaker``:
  the speaker right by its lenient rule, or both without speaker); and whether it is a right "X said Y"
  (``said``: paired, and a speaker named and right). ``said`` is the one definition of "correct" the
  confidence is calibrated to: a consumer alerting on "X said Y" needs the X, so an item without speaker
  is never a right one, however often the annotators also labelled it (as the writer's own view, say).
  Rows inside the annotators' ignored spans are left out, as the scorer leaves them out.
- ``article_folds``, ``out_of_fold``: articles split into folds, each article in exactly one, and a
  prediction for every row from a model fitted without its article.
- ``fit_logistic``: L2-regularised logistic regression by Newton's method (numpy; written here rather
  than taken from scikit-learn, which the project does not depend on: the runtime only needs the
  weights, and a deterministic 30-line solver is easy to check).
- ``reliability``, ``expected_calibration_error``, ``log_loss``, ``brier``, ``auc``: the report.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from eval._common import EVAL_DIR

#: Equal-width confidence bins of the reliability table.
BINS = 10
#: The documented values of WIREPIPE_QUOTE_MIN_CONFIDENCE.
THRESHOLDS = (0.0, 0.3, 0.5, 0.7, 0.9)


def load_scorer() -> ModuleType:
    """``$EVAL_DIR/score_quotes.py`` as a module, so its matching rules are used, not copied."""
    spec = importlib.util.spec_from_file_location("score_quotes", EVAL_DIR / "score_quotes.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Verdict:
    """What the scorer made of one predicted row (all-kinds view, token-overlap matching)."""

    real: bool  # paired with a gold attribution
    quote_and_speaker: bool  # paired, and the speaker right or, with a gold quote without one, absent
    said: bool  # paired, and a speaker named and right: a right "X said Y"


def verdicts(
    scorer: ModuleType, gold: dict[str, Any], rows: Sequence[dict[str, Any]]
) -> list[Verdict | None]:
    """One verdict per row of ``rows`` (scorer prediction rows for ``gold``), None for a row the scorer
    drops (inside an ignored span). Follows ``score_quotes.score`` and ``View.add`` step by step, with the
    scorer's own functions, so the counts agree with its ``all`` view (``check_against_scorer``)."""
    doc = scorer.Document(gold["text"])
    located = scorer._locate(doc, list(rows), Counter())
    trim, text = scorer.trim_span, doc.text
    gold_tok = [doc.token_ids(*trim(text, q["start"], q["end"])) for q in gold["quotes"]]
    ignore = [doc.token_ids(s, e) for s, e in gold.get("ignore_spans") or []]
    kept: list[int] = []
    pred_tok = []
    for i, p in enumerate(located):
        pt = doc.token_ids(*trim(text, p["_start"], p["_end"]))
        if pt and any(len(pt & ig) * 2 >= len(pt) for ig in ignore) and not any(pt & gt for gt in gold_tok):
            continue
        kept.append(i)
        pred_tok.append(pt)
    pairs = []
    for gi, gt in enumerate(gold_tok):
        for pi, pt in enumerate(pred_tok):
            shared = len(gt & pt) if gt and pt else 0
            if shared and 2 * shared / (len(gt) + len(pt)) >= 0.5:
                pairs.append((2 * shared / (len(gt) + len(pt)), gi, pi))
    pred_to_gold = {pi: gi for gi, pi in scorer._match(pairs).items()}
    out: list[Verdict | None] = [None] * len(rows)
    for pi, i in enumerate(kept):
        gi = pred_to_gold.get(pi)
        if gi is None:
            out[i] = Verdict(real=False, quote_and_speaker=False, said=False)
            continue
        g, p = gold["quotes"][gi], located[i]
        named = bool(g.get("speaker")) and bool(scorer.speaker_correct(g, p)[0])
        out[i] = Verdict(
            real=True, quote_and_speaker=named or not (g.get("speaker") or p.get("speaker")), said=named
        )
    return out


def check_against_scorer(
    scorer: ModuleType,
    gold: Sequence[dict[str, Any]],
    preds: Sequence[dict[str, Any]],
    found: Sequence[Verdict],
) -> None:
    """Fail loudly when the verdicts do not add up to the scorer's own all-kinds counts."""
    result = scorer.score(list(gold), list(preds))["all"]
    n_real, n_both = sum(v.real for v in found), sum(v.quote_and_speaker for v in found)
    assert result["pred"] == len(found), (result["pred"], len(found))
    assert result["overlap"]["tp"] == n_real, (result["overlap"]["tp"], n_real)
    assert result["quote_and_speaker"]["tp"] == n_both, (result["quote_and_speaker"]["tp"], n_both)


def article_folds(ids: Sequence[str], k: int, seed: int) -> dict[str, int]:
    """Fold of each distinct article id: a seeded shuffle of the sorted ids dealt round-robin, so each
    article is in exactly one fold and the folds differ in size by at most one article."""
    distinct = sorted(set(ids))
    order = np.random.default_rng(seed).permutation(len(distinct))
    return {distinct[j]: rank % k for rank, j in enumerate(order)}


def out_of_fold(
    groups: Sequence[str], k: int, seed: int, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """A prediction for every row from a model that never saw its group: for each of ``k`` folds of the
    groups (``article_folds``), ``fit_predict(train, test)`` (row indexes) fits on ``train`` and returns
    predictions for ``test``."""
    folds = article_folds(groups, k, seed)
    fold_of = np.array([folds[g] for g in groups])
    out = np.zeros(len(groups))
    for f in range(k):
        train, test = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        out[test] = fit_predict(train, test)
    return out


def design(rows: Sequence[Sequence[str]], names: Sequence[str]) -> np.ndarray:
    """0/1 matrix of one-hot feature names per row over the vocabulary ``names`` (unknown names dropped)."""
    index = {n: j for j, n in enumerate(names)}
    x = np.zeros((len(rows), len(names)))
    for i, feats in enumerate(rows):
        for f in feats:
            j = index.get(f)
            if j is not None:
                x[i, j] = 1.0
    return x


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 50) -> tuple[float, np.ndarray]:
    """Intercept and weights minimising log loss + ``l2``/2 * |w|^2 (the intercept not penalised), by
    Newton's method from zero: the objective is strictly convex, so the answer does not depend on a seed."""
    n, d = x.shape
    a = np.hstack([np.ones((n, 1)), x])
    beta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(a @ beta)))
        gradient = a.T @ (p - y) + penalty * beta
        hessian = (a * (p * (1 - p))[:, None]).T @ a + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(beta[0]), beta[1:]


def predict(x: np.ndarray, intercept: float, weights: np.ndarray) -> np.ndarray:
    """The fitted probabilities, rounded to three places as the runtime rounds them."""
    return np.round(1.0 / (1.0 + np.exp(-(intercept + x @ weights))), 3)


def reliability(conf: np.ndarray, correct: np.ndarray, **others: np.ndarray) -> list[dict[str, Any]]:
    """Per equal-width confidence bin: how many rows, their mean confidence and the share that is correct
    (the measured precision); each of ``others`` (0/1 per row) adds its share under its name."""
    table = []
    edges = np.linspace(0.0, 1.0, BINS + 1)
    which = np.minimum((conf * BINS).astype(int), BINS - 1)
    for b in range(BINS):
        inside = which == b
        n = int(inside.sum())
        row: dict[str, Any] = {"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "count": n}
        row["mean_confidence"] = round(float(conf[inside].mean()), 4) if n else None
        row["precision"] = round(float(correct[inside].mean()), 4) if n else None
        for name, values in others.items():
            row[name] = round(float(values[inside].mean()), 4) if n else None
        table.append(row)
    return table


def expected_calibration_error(conf: np.ndarray, correct: np.ndarray) -> float:
    """Sum over the equal-width bins of (share of rows) x |mean confidence - measured precision|."""
    which = np.minimum((conf * BINS).astype(int), BINS - 1)
    total = 0.0
    for b in range(BINS):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - correct[inside].mean())
    return round(float(total), 4)


def log_loss(conf: np.ndarray, correct: np.ndarray) -> float:
    """Mean negative log-likelihood (unrounded: candidates are chosen by it)."""
    p = np.clip(conf, 1e-6, 1 - 1e-6)
    return float(-np.mean(correct * np.log(p) + (1 - correct) * np.log(1 - p)))


def brier(conf: np.ndarray, correct: np.ndarray) -> float:
    return round(float(np.mean((conf - correct) ** 2)), 4)


def auc(conf: np.ndarray, correct: np.ndarray) -> float:
    """Probability that a correct row outranks a wrong one (ties count half): how well confidence sorts."""
    pos, neg = conf[correct == 1], conf[correct == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.sort(neg)
    below = np.searchsorted(order, pos, side="left")
    ties = np.searchsorted(order, pos, side="right") - below
    return round(float((below + 0.5 * ties).sum() / (len(pos) * len(neg))), 4)


def calibration_summary(conf: np.ndarray, correct: np.ndarray, **others: np.ndarray) -> dict[str, Any]:
    """The figures of one set of predictions: ECE, log loss, Brier, AUC, the reliability table."""
    return {
        "rows": len(conf),
        "base_rate": round(float(correct.mean()), 4),
        "mean_confidence": round(float(conf.mean()), 4),
        "ece": expected_calibration_error(conf, correct),
        "log_loss": round(log_loss(conf, correct), 4),
        "brier": brier(conf, correct),
        "auc": auc(conf, correct),
        "reliability": reliability(conf, correct, **others),
    }


def thresholded(preds: Sequence[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """Prediction lines keeping only the rows whose ``confidence`` is at least ``threshold``, as a
    deployment with ``WIREPIPE_QUOTE_MIN_CONFIDENCE=threshold`` publishes them."""
    return [{**p, "quotes": [q for q in p["quotes"] if q["confidence"] >= threshold]} for p in preds]


def precision_recall(
    scorer: ModuleType,
    gold: Sequence[dict[str, Any]],
    preds: Sequence[dict[str, Any]],
    thresholds: Sequence[float],
) -> list[dict[str, Any]]:
    """The scorer's figures at each threshold: direct and all-kinds views, overlap and quote+speaker."""
    table = []
    for t in thresholds:
        result = scorer.score(list(gold), thresholded(preds, t))
        row: dict[str, Any] = {"threshold": t, "pred_rows": result["all"]["pred"]}
        for view in ("direct", "all"):
            for measure in ("overlap", "quote_and_speaker"):
                figures = result[view][measure]
                row[f"{view}_{measure}"] = {k: figures[k] for k in ("precision", "recall", "f1")}
        table.append(row)
    return table


def format_reliability(table: Sequence[dict[str, Any]]) -> list[str]:
    """The reliability table as text lines: the fixed columns, then any others it carries."""
    fixed = ("bin", "count", "mean_confidence", "precision")
    others = [k for k in table[0] if k not in fixed] if table else []
    widths = [11, 11] + [len(k) + 2 for k in others]
    heads = ["mean conf", "precision", *others]
    lines = [f"{'bin':>9}{'rows':>7}" + "".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True))]
    for row in table:
        cells = [row[k] for k in ("mean_confidence", "precision", *others)]
        lines.append(
            f"{row['bin']:>9}{row['count']:>7}"
            + "".join(
                f"{c:>{w}.3f}" if c is not None else f"{'-':>{w}}" for c, w in zip(cells, widths, strict=True)
            )
        )
    return lines


def format_precision_recall(table: Sequence[dict[str, Any]]) -> list[str]:
    """Precision/recall at each threshold as text lines (P/R of each view and measure)."""
    heads = ("direct_overlap", "direct_quote_and_speaker", "all_overlap", "all_quote_and_speaker")
    lines = [f"{'min conf':>9}{'rows':>7}" + "".join(f"{h:>27}" for h in heads)]
    for row in table:
        cells = "".join(
            f"{'P ' + format(row[h]['precision'], '.3f') + ' R ' + format(row[h]['recall'], '.3f'):>27}"
            for h in heads
        )
        lines.append(f"{row['threshold']:>9.2f}{row['pred_rows']:>7}" + cells)
    return lines


def confidence_report(
    scorer: ModuleType, gold: Sequence[dict[str, Any]], preds: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Reliability table, ECE and precision/recall at ``THRESHOLDS`` of prediction lines whose rows carry
    the ``confidence`` of their quote, against ``gold`` (the lines in the same order)."""
    conf, said, both, real = [], [], [], []
    for g, line in zip(gold, preds, strict=True):
        for row, verdict in zip(line["quotes"], verdicts(scorer, g, line["quotes"]), strict=True):
            if verdict is not None:
                conf.append(row["confidence"])
                said.append(verdict.said)
                both.append(verdict.quote_and_speaker)
                real.append(verdict.real)
    c = np.array(conf, dtype=float)
    summary = calibration_summary(
        c,
        np.array(said, dtype=float),
        scorer_quote_and_speaker=np.array(both, dtype=float),
        quote_only=np.array(real, dtype=float),
    )
    return {**summary, "precision_recall": precision_recall(scorer, gold, preds, THRESHOLDS)}
