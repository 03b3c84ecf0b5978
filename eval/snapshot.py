"""What the product publishes for every development text, as one digest: to show a refactor changed nothing.

Every labelled text of EVAL_DIR (cleaning pages, CoNLL and PolNeAR texts, the corpus) goes through
``wirepipe enrich``'s path (``OfflinePipeline``, the real model); each outcome is written without the
fields that differ from run to run (``processed_at``, ``timings_ms``, a dead letter's ``failed_at``).

    python eval/snapshot.py OUT.jsonl      # the outcomes, one JSON line each, and their sha256 on stdout

Run it before and after a change that should not change behaviour, and compare the digests (and
``diff`` the files where they differ).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.enricher import Enricher
from pipeline.offline import OfflinePipeline
from pipeline.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
VOLATILE = {"processed_at", "timings_ms", "failed_at"}


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def raw_records(eval_dir: Path, split: str) -> Iterator[tuple[str, bytes]]:
    """(set, raw message) for every development text, as a consumer would send it."""
    for name in (f"clean/{split}.jsonl", f"clean/wcxb_{split}.jsonl.gz"):
        for page in _jsonl(eval_dir / name):
            record = {"uri": f"page:{page['id']}", "url": page.get("url"), "body_html": page["html"]}
            yield name, json.dumps(record).encode()
    for name in (f"ner/{split}.jsonl", f"quotes/{split}.jsonl"):
        for doc in _jsonl(eval_dir / name):
            yield name, json.dumps({"uri": f"{name}:{doc['id']}", "body_text": doc["text"]}).encode()
    for article in _jsonl(eval_dir / "corpus" / "articles.jsonl"):
        yield "corpus", json.dumps(article).encode()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    eval_dir = Path(os.environ.get("EVAL_DIR", "../shared/eval"))
    if not eval_dir.is_absolute():
        eval_dir = (ROOT / eval_dir).resolve()
    split = os.environ.get("EVAL_SPLIT", "dev")
    settings = get_settings()
    enricher = Enricher(settings.spacy_model, batch_size=settings.batch_size)
    digest = hashlib.sha256()
    by_set: dict[str, Any] = {}
    with open(sys.argv[1], "wb") as out:
        current: str | None = None
        batch: list[bytes] = []

        def flush() -> None:
            if not batch:
                return
            # The labelled sets are separate test items; the corpus is a stream, deduplicated.
            pipeline = OfflinePipeline(enricher=enricher, dedup=current == "corpus")
            set_digest = by_set.setdefault(current, hashlib.sha256())
            for record in pipeline.run(batch, batch_size=settings.batch_size):
                data = {k: v for k, v in record.model_dump(mode="json").items() if k not in VOLATILE}
                line = json.dumps(data, ensure_ascii=False, sort_keys=True).encode() + b"\n"
                out.write(line)
                digest.update(line)
                set_digest.update(line)
            batch.clear()

        for name, value in raw_records(eval_dir, split):
            if name != current:
                flush()
                current = name
            batch.append(value)
        flush()
    for name, set_digest in by_set.items():
        print(f"{set_digest.hexdigest()}  {name}")
    print(f"{digest.hexdigest()}  all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
