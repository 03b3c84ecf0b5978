"""Near-duplicate evaluation: Wirepipe's dedup stage against exact-fingerprint and plain-LSH baselines.

Usage:
    .venv/bin/python eval/run_neardup.py [--source enrich|stages] [--synthetic-copies 2] [--seed 13]

Two data sets, both scored by the shipped ``score_neardup.py`` (imported from ``$EVAL_DIR``):

1. dev: ``$EVAL_DIR/corpus/articles.jsonl`` streamed in file order against ``neardup/pairs.jsonl``.
2. synthetic: every corpus article plus ``--synthetic-copies`` edited copies of it (see ``_mutate``:
   sentence deletions/insertions/replacements, word edits, truncation, an appended paragraph,
   changed furniture; a third of the copies are made from an earlier copy, like a revision chain),
   shuffled with a fixed seed. Truth is every pair with exact word-5-shingle Jaccard >= 0.5, computed
   the way the scorer's pairs were (``_truth_text``); the script checks that this reproduces the
   shipped dev pairs before trusting it.

Verdicts come, by default (``make eval``), from ``verdicts_via_enrich``: the ``wirepipe enrich`` command,
i.e. the worker's own code path (decode -> versions -> clean -> dedup -> NLP), run once per threshold
with ``WIREPIPE_NEAR_DUP_THRESHOLD``. ``--source stages`` calls the stages directly (clean -> dedup_key ->
dedup; seconds instead of minutes, no NLP). Results go to ``eval/results/neardup.json``. Eval data is
read from ``$EVAL_DIR`` and never written anywhere.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import json
import os
import random
import re
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from datasketch import MinHash, MinHashLSH  # noqa: E402

from eval._common import RESULTS, eval_dir, read_jsonl  # noqa: E402
from pipeline.models import CleanArticle  # noqa: E402
from pipeline.stages.dedup import dedup, dedup_key, normalised_words, shingles  # noqa: E402
from schemas.ninjs import RawArticle  # noqa: E402

THRESHOLDS = (0.7, 0.75, 0.8, 0.85, 0.9)
Verdicts = list[dict[str, str | None]]
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def load_scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("score_neardup", eval_dir() / "score_neardup.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- cleaning (the stage, or a stand-in)


def _cleaner() -> tuple[str, Callable[[dict[str, Any]], CleanArticle | None]]:
    """The project's cleaning stage when it exists, else whitespace normalisation of tag-stripped text."""
    try:
        # Optional until the cleaning stage lands; imported late so the script runs without it.
        from pipeline.stages.clean import clean  # type: ignore[import-not-found,unused-ignore]  # noqa: PLC0415
    except ImportError:
        clean = None

    def with_stage(record: dict[str, Any]) -> CleanArticle | None:
        try:
            return clean(RawArticle.model_validate(record))  # type: ignore[no-any-return,misc]
        except Exception:  # an article the cleaner rejects is simply not indexed
            return None

    def minimal(record: dict[str, Any]) -> CleanArticle | None:
        raw = RawArticle.model_validate(record)
        body = raw.body or ""
        if raw.body_kind == "html":
            body = html.unescape(_TAG.sub(" ", body))
        body = " ".join(body.split())
        if not body:
            return None
        return CleanArticle(uri=raw.uri, version=raw.version, headline=raw.headline, body=body)

    return ("pipeline.stages.clean", with_stage) if clean is not None else ("whitespace-only", minimal)


# ---------------------------------------------------------------- verdict sources


def verdicts_via_stages(
    records: list[dict[str, Any]], threshold: float, keys: dict[str, Any] | None = None
) -> Verdicts:
    """Stream records through dedup_key + dedup with a fresh store; one verdict per record, in order.

    ``keys`` caches uri -> DedupKey (or None when cleaning rejected it) across thresholds.
    """
    _, clean = _cleaner()
    store: dict[str, Any] = {}
    out: Verdicts = []
    t0 = 1_700_000_000.0
    for i, rec in enumerate(records):
        uri = rec["uri"]
        if keys is not None and uri in keys:
            key = keys[uri]
        else:
            article = clean(rec)
            key = dedup_key(article) if article is not None else None
            if keys is not None:
                keys[uri] = key
        if key is None:
            out.append({"uri": uri, "duplicate_of": None})
            continue
        # One second per article: the whole stream sits well inside the retention window.
        verdict = dedup(store, key, now=t0 + i, threshold=threshold)
        out.append({"uri": uri, "duplicate_of": verdict.duplicate_of})
    return out


ENRICH = [sys.executable, "-m", "pipeline.cli", "enrich"]  # the venv's `wirepipe enrich`, PATH or not


def verdicts_via_enrich(
    records: list[dict[str, Any]],
    threshold: float,
    command: list[str] | None = None,
    tally: Counter[str] | None = None,
) -> Verdicts:
    """Stream records through ``wirepipe enrich`` (JSON lines on stdin, one outcome line each on stdout).

    The threshold goes in as ``WIREPIPE_NEAR_DUP_THRESHOLD``. A dead letter (``error_code``) is no
    verdict, as in the worker: the article was never indexed, or failed NLP after a unique verdict.
    ``tally`` counts outcomes and dead-letter codes.
    """
    env = {
        **os.environ,
        "WIREPIPE_NEAR_DUP_THRESHOLD": str(threshold),
        "WIREPIPE_LOG_FORMAT": "json",
        "WIREPIPE_LOG_LEVEL": "WARNING",
    }
    stdin = b"".join(json.dumps(rec).encode() + b"\n" for rec in records)
    proc = subprocess.run(command or ENRICH, input=stdin, capture_output=True, check=False, cwd=REPO, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"wirepipe enrich exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if len(rows) != len(records):
        raise RuntimeError(f"wirepipe enrich wrote {len(rows)} outcomes for {len(records)} inputs")
    out: Verdicts = []
    for rec, row in zip(records, rows, strict=True):  # one outcome per input, in input order
        if "error_code" in row:
            kind, duplicate_of = f"dead_letter:{row['error_code']}", None
        else:
            if row["id"] != rec["uri"]:
                raise RuntimeError(f"outcome for {row['id']!r} where {rec['uri']!r} was expected")
            kind, duplicate_of = row["outcome"], row["duplicate"]["duplicate_of"]
        if tally is not None:
            tally[kind] += 1
        out.append({"uri": rec["uri"], "duplicate_of": duplicate_of})
    return out


# ---------------------------------------------------------------- baselines


def verdicts_exact(records: list[dict[str, Any]]) -> Verdicts:
    """Baseline: the same normalised-text fingerprint, nothing else."""
    _, clean = _cleaner()
    first: dict[str, str] = {}
    out: Verdicts = []
    for rec in records:
        article = clean(rec)
        dup = None
        if article is not None:
            fp = " ".join(normalised_words(article))
            dup = first.setdefault(fp, rec["uri"])
            dup = None if dup == rec["uri"] else dup
        out.append({"uri": rec["uri"], "duplicate_of": dup})
    return out


def verdicts_plain_lsh(records: list[dict[str, Any]], threshold: float) -> Verdicts:
    """Baseline: datasketch MinHashLSH(threshold) with 128 default permutations, no verification;
    the earliest candidate is named."""
    _, clean = _cleaner()
    lsh = MinHashLSH(threshold=threshold, num_perm=128)
    order: dict[str, int] = {}
    out: Verdicts = []
    for i, rec in enumerate(records):
        article = clean(rec)
        if article is None:
            out.append({"uri": rec["uri"], "duplicate_of": None})
            continue
        mh = MinHash(num_perm=128)
        mh.update_batch(shingles(normalised_words(article)))
        cands = [c for c in lsh.query(mh) if c != rec["uri"]]
        out.append({"uri": rec["uri"], "duplicate_of": min(cands, key=order.__getitem__) if cands else None})
        if rec["uri"] not in order:
            order[rec["uri"]] = i
            lsh.insert(rec["uri"], mh)
    return out


# ---------------------------------------------------------------- truth and synthetic data


def _truth_text(rec: dict[str, Any]) -> str:
    """Headline + body as the shipped pairs were computed (checked in ``check_truth_method``)."""
    body = rec.get("body_text") or ""
    if rec.get("body_html"):
        body = html.unescape(_TAG.sub(" ", rec["body_html"]))
    return (rec.get("headline") or "") + "\n" + body


def _truth_shingles(rec: dict[str, Any]) -> set[str]:
    w = _WORD.findall(_truth_text(rec).lower())
    return {" ".join(w[i : i + 5]) for i in range(max(1, len(w) - 4))} if w else set()


def exact_pairs(records: list[dict[str, Any]], floor: float = 0.5) -> list[dict[str, Any]]:
    """Every pair with exact word-5-shingle Jaccard >= floor, via an inverted index of shingles."""
    sets = [_truth_shingles(r) for r in records]
    postings: dict[str, list[int]] = {}
    pairs = []
    for d, s in enumerate(sets):
        shared: Counter[int] = Counter()
        for sh in s:
            shared.update(postings.setdefault(sh, []))
        for e, inter in shared.items():
            j = inter / (len(s) + len(sets[e]) - inter)
            if j >= floor:
                pairs.append({"a": records[e]["uri"], "b": records[d]["uri"], "jaccard": j})
        for sh in s:
            postings[sh].append(d)
    return pairs


def check_truth_method(records: list[dict[str, Any]], shipped: list[dict[str, Any]]) -> dict[str, Any]:
    mine = {frozenset((p["a"], p["b"])): p["jaccard"] for p in exact_pairs(records)}
    theirs = {frozenset((p["a"], p["b"])): p["jaccard"] for p in shipped}
    same = sum(1 for k, j in theirs.items() if k in mine and abs(mine[k] - j) < 1e-9)
    extra = len(set(mine) - set(theirs))
    return {"shipped_pairs": len(theirs), "reproduced_exactly": same, "extra_pairs": extra}


def _sentences(rec: dict[str, Any]) -> list[str]:
    body = _truth_text(rec).split("\n", 1)[1]
    return [s for s in _SENTENCE.split(" ".join(body.split())) if s]


def _mutate(
    src: dict[str, Any], donors: list[dict[str, Any]], rng: random.Random
) -> tuple[dict[str, Any], list[str]]:
    """An edited copy of ``src`` (1-3 edits) as a plain-text ninjs record, and the edits applied."""
    headline = src.get("headline") or ""
    sents = _sentences(src)
    edits = rng.sample(
        ["delete", "insert", "replace", "words", "truncate", "append", "furniture"], k=rng.randint(1, 3)
    )
    for edit in edits:
        donor = _sentences(rng.choice(donors)) or ["Markets were quiet."]
        if edit == "delete" and len(sents) > 1:
            sents.pop(rng.randrange(len(sents)))
        elif edit == "insert":
            sents.insert(rng.randint(0, len(sents)), rng.choice(donor))
        elif edit == "replace" and sents:
            sents[rng.randrange(len(sents))] = rng.choice(donor)
        elif edit == "words" and sents:
            i = rng.randrange(len(sents))
            words = sents[i].split()
            for _ in range(rng.randint(1, 3)):
                words[rng.randrange(len(words))] = rng.choice(" ".join(donor).split() or ["x"])
            sents[i] = " ".join(words)
        elif edit == "truncate" and len(sents) > 2:
            sents = sents[: max(1, round(len(sents) * rng.uniform(0.6, 0.95)))]
        elif edit == "append":
            sents.extend(donor[: rng.randint(1, 3)])
        elif edit == "furniture":
            kind = rng.choice(["update", "credit", "signoff", "date"])
            if kind == "update":
                headline = rng.choice(["UPDATE 1-", "CORRECTED-", "REFILE-"]) + headline
            elif kind == "credit":
                sents.append("(Reporting by Jane Doe; Editing by John Smith)")
            elif kind == "signoff" and sents and sents[-1].endswith("Reuter"):
                sents[-1] = sents[-1][: -len("Reuter")].rstrip() or "."
            elif kind == "date" and sents:
                day = re.compile(r"\b(\d{1,2})\b")
                sents[0] = day.sub(lambda m: str(int(m.group(1)) % 28 + 1), sents[0], count=1)
    rec = {
        "uri": src["uri"],
        "version": 1,
        "pubstatus": "usable",
        "headline": headline,
        "body_text": " ".join(sents) or "Markets were quiet.",
        "language": "en",
    }
    return rec, edits


def synthetic_stream(
    corpus: list[dict[str, Any]], copies: int, seed: int
) -> tuple[list[dict[str, Any]], Counter[str]]:
    rng = random.Random(seed)
    stream = list(corpus)
    made: list[dict[str, Any]] = []
    edit_counts: Counter[str] = Counter()
    for src in corpus:
        for k in range(copies):
            # A third of copies revise an earlier copy: chains, where the end may be far from the start.
            base = rng.choice(made) if made and rng.random() < 1 / 3 else src
            rec, edits = _mutate(base, corpus, rng)
            rec["uri"] = f"{src['uri']}~syn{k}"
            made.append(rec)
            edit_counts.update(edits)
    stream.extend(made)
    rng.shuffle(stream)
    return stream, edit_counts


# ---------------------------------------------------------------- runs


def evaluate(
    name: str,
    records: list[dict[str, Any]],
    pairs: list[dict[str, Any]],
    scorer: ModuleType,
    verdict_source: Callable[[list[dict[str, Any]], float], Verdicts],
) -> dict[str, Any]:
    def score(verdicts: Verdicts, t: float) -> dict[str, Any]:
        res: dict[str, Any] = scorer.score(pairs, verdicts, t)
        fields = ("threshold", "gold_duplicates", "tp", "fp", "fn", "precision", "recall", "f1")
        return {k: res[k] for k in fields}

    started = time.perf_counter()
    wirepipe = [score(verdict_source(records, t), t) for t in THRESHOLDS]
    elapsed = time.perf_counter() - started
    exact = verdicts_exact(records)
    return {
        "data": name,
        "documents": len(records),
        "pairs_at_0.5": len(pairs),
        "wirepipe_dedup": wirepipe,
        "wirepipe_seconds_all_thresholds": round(elapsed, 2),
        "baseline_exact_fingerprint": [score(exact, t) for t in THRESHOLDS],
        "baseline_plain_minhashlsh": [score(verdicts_plain_lsh(records, t), t) for t in THRESHOLDS],
    }


def _print(result: dict[str, Any]) -> None:
    print(f"\n== {result['data']}: {result['documents']} documents, {result['pairs_at_0.5']} pairs >= 0.5")
    for system in ("wirepipe_dedup", "baseline_exact_fingerprint", "baseline_plain_minhashlsh"):
        for row in result[system]:
            print(
                f"{system:28s} t={row['threshold']:.2f}  gold {row['gold_duplicates']:4d}  "
                f"P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  "
                f"(tp {row['tp']}, fp {row['fp']}, fn {row['fn']})"
            )


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument(
        "--source",
        choices=("enrich", "stages"),
        default="enrich",
        help="verdicts from `wirepipe enrich` (default) or from the stages called directly",
    )
    ap.add_argument("--enrich-cmd", help="the enrich command (default: this Python's `pipeline.cli enrich`)")
    ap.add_argument("--synthetic-copies", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path, default=RESULTS / "neardup.json")
    args = ap.parse_args(list(argv) if argv is not None else None)

    scorer = load_scorer()
    corpus = read_jsonl(eval_dir() / "corpus" / "articles.jsonl")
    shipped = read_jsonl(eval_dir() / "neardup" / "pairs.jsonl")
    cleaner_name, _ = _cleaner()

    tallies: dict[str, Counter[str]] = {}
    if args.source == "enrich":
        command = shlex.split(args.enrich_cmd) if args.enrich_cmd else None

        def source(records: list[dict[str, Any]], t: float) -> Verdicts:
            started = time.perf_counter()
            tally = tallies.setdefault(f"{len(records)} documents, t={t}", Counter())
            verdicts = verdicts_via_enrich(records, t, command, tally)
            seconds = time.perf_counter() - started
            print(f"  enrich t={t}: {len(records)} documents in {seconds:.0f} s", flush=True)
            return verdicts
    else:
        caches: dict[int, dict[str, Any]] = {}

        def source(records: list[dict[str, Any]], t: float) -> Verdicts:
            return verdicts_via_stages(records, t, caches.setdefault(id(records), {}))

    truth_check = check_truth_method(corpus, shipped)
    dev = evaluate("dev corpus (file order)", corpus, shipped, scorer, source)
    stream, edit_counts = synthetic_stream(corpus, args.synthetic_copies, args.seed)
    syn_pairs = exact_pairs(stream)
    syn = evaluate(
        f"synthetic ({args.synthetic_copies} edited copies per corpus article, seed {args.seed})",
        stream,
        syn_pairs,
        scorer,
        source,
    )
    jaccards = [p["jaccard"] for p in syn_pairs]
    syn["pairs_by_jaccard"] = {
        f"[{lo:.2f},{lo + 0.05:.2f})": sum(1 for j in jaccards if lo <= j < lo + 0.05 - 1e-12)
        for lo in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
    }
    syn["pairs_by_jaccard"]["[1.00]"] = sum(1 for j in jaccards if j >= 1.0 - 1e-12)
    syn["edits_applied"] = dict(edit_counts)
    result = {
        "verdict_source": (
            "wirepipe enrich (WIREPIPE_NEAR_DUP_THRESHOLD per row)"
            if args.source == "enrich"
            else f"stages ({cleaner_name} + dedup)"
        ),
        "truth_method_check_on_dev": truth_check,
        "results": [dev, syn],
    }
    if tallies:
        result["enrich_outcomes"] = {run: dict(tally) for run, tally in tallies.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"verdicts from: {result['verdict_source']}; truth method check: {truth_check}")
    _print(dev)
    _print(syn)
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
