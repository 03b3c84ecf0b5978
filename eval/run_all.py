"""`make eval`: run every stage's evaluation over EVAL_DIR/EVAL_SPLIT and write one summary.

Each `eval/run_<name>.py` writes `eval/results/<name>.json` (pipeline figures with the baseline beside
them); this script runs them in turn and merges those files into `eval/results/summary.json`, with a
`product` table: for each labelled set, the stage's figure, the figure through the product (the same
texts through `wirepipe enrich`'s path, see `eval/product.py`) and the gap between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "eval" / "results"
ORDER = ["clean", "ner", "quotes", "neardup", "changes"]


def main() -> int:
    eval_dir = Path(os.environ.get("EVAL_DIR", "../shared/eval"))
    if not eval_dir.is_absolute():
        eval_dir = (ROOT / eval_dir).resolve()
    split = os.environ.get("EVAL_SPLIT", "dev")
    if not eval_dir.is_dir():
        print(f"EVAL_DIR {eval_dir} does not exist", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "EVAL_DIR": str(eval_dir), "EVAL_SPLIT": split}
    summary: dict[str, object] = {"eval_dir": str(eval_dir), "split": split, "stages": {}}
    failed = []
    for name in ORDER:
        script = ROOT / "eval" / f"run_{name}.py"
        if not script.exists():
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(script)], env=env, cwd=ROOT, check=False)
        seconds = round(time.perf_counter() - started, 1)
        result_file = RESULTS / f"{name}.json"
        if done.returncode != 0 or not result_file.exists():
            failed.append(name)
            summary["stages"][name] = {"error": f"exit {done.returncode}", "seconds": seconds}  # type: ignore[index]
            continue
        summary["stages"][name] = {**json.loads(result_file.read_text()), "seconds": seconds}  # type: ignore[index]
    summary["product"] = product_table(summary["stages"])  # type: ignore[arg-type]
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{'stage vs product':48}{'stage':>8}{'product':>9}{'gap':>8}")
    for row in summary["product"]:  # type: ignore[attr-defined]
        print(f"{row['set']:48}{row['stage']:>8.4f}{row['product']:>9.4f}{row['gap']:>+8.4f}")
    print(f"summary: {RESULTS / 'summary.json'}")
    return 1 if failed else 0


# (set, result file, path to the stage figure, path to the product figure)
_PAIRS = [
    ("quotes direct quote+speaker F1", "quotes", ("pipeline", "direct", "quote_and_speaker", "f1"),
     ("product", "direct", "quote_and_speaker", "f1")),
    ("quotes direct overlap F1", "quotes", ("pipeline", "direct", "overlap", "f1"),
     ("product", "direct", "overlap", "f1")),
    ("quotes all-kinds overlap F1", "quotes", ("pipeline", "all", "overlap", "f1"),
     ("product", "all", "overlap", "f1")),
    ("NER micro F1", "ner", ("pipeline", "micro", "f1"), ("product", "micro", "f1")),
    ("cleaning F1, article-extraction benchmark", "clean", ("pipeline", "f1"), ("product", "f1")),
    ("cleaning F1, WCXB articles", "clean", ("wcxb", "pipeline", "f1"), ("wcxb", "product", "f1")),
]  # fmt: skip


def _dig(data: object, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return float(data) if isinstance(data, int | float) else None


def product_table(stages: dict[str, object]) -> list[dict[str, object]]:
    """Stage and product figure of each labelled set, and product minus stage."""
    rows: list[dict[str, object]] = []
    for name, stage_name, stage_path, product_path in _PAIRS:
        stage, product = _dig(stages.get(stage_name), stage_path), _dig(stages.get(stage_name), product_path)
        if stage is not None and product is not None:
            rows.append({"set": name, "stage": stage, "product": product, "gap": round(product - stage, 4)})
    return rows


if __name__ == "__main__":
    sys.exit(main())
