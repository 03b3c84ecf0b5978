"""What every eval script shares: where the data and the results live, JSON lines, the shipped scorers.

Env: ``EVAL_DIR`` (default ``../shared/eval``; a relative path is taken from the repo root) and
``EVAL_SPLIT`` (default ``dev``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "eval" / "results"
SPLIT = os.environ.get("EVAL_SPLIT", "dev")


def eval_dir() -> Path:
    """The labelled data and scorers: ``$EVAL_DIR``, resolved against the repo root when relative."""
    path = Path(os.environ.get("EVAL_DIR", REPO.parent / "shared" / "eval"))
    return path if path.is_absolute() else (REPO / path).resolve()


EVAL_DIR = eval_dir()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every non-blank line of ``path`` as a JSON object."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]], *, ensure_ascii: bool = True) -> None:
    """One JSON object a line, as the scorers read predictions."""
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=ensure_ascii) + "\n")


def score(scorer: str, gold: Path, pred: Path) -> dict[str, Any]:
    """Run the shipped ``$EVAL_DIR/<scorer>`` on a gold and a prediction file; returns its JSON figures."""
    out = subprocess.run(
        [sys.executable, str(EVAL_DIR / scorer), str(gold), str(pred)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result
