"""`make eval`: run every stage's evaluation over EVAL_DIR/EVAL_SPLIT and write one summary.

Each `eval/run_<name>.py` writes `eval/results/<name>.json` (pipeline figures with the baseline beside
them); this script runs them in turn and merges those files into `eval/results/summary.json`.
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
ORDER = ["clean", "ner", "quotes", "neardup"]


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
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"summary: {RESULTS / 'summary.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
