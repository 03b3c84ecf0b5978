"""Build `examples/demo.jsonl`, the articles `make run` produces, from the scraped story fixture.

Each line is derived from `tests/data/scraped_story.ninjs.json` (the scraped sample as a ninjs 1.x record)
by a documented edit, so the demo shows every outcome:

1. the story as scraped, version 1                         -> enriched
2. the same uri, version 2, headline and a casualty figure corrected -> update
3. the version-1 body under another agency's uri           -> duplicate of (1)
4. that copy's uri, version 2, pubstatus canceled          -> withdrawn (and a tombstone)
5. a ninjs 2.x item (headlines[], bodies[], by)            -> enriched
6. a line cut off in the middle                            -> dead letter E_DECODE_JSON
7. `version` sent as an object                             -> dead letter E_VALIDATE
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORY = ROOT / "tests" / "data" / "scraped_story.ninjs.json"
NINJS2 = ROOT / "tests" / "data" / "ninjs" / "v2.json"
OUT = ROOT / "examples" / "demo.jsonl"


def main() -> None:
    story = json.loads(STORY.read_text())
    update = {
        **story,
        "version": 2,
        "headline": "UPDATE 1-" + story["headline"],
        # a correction: the casualty count in the third paragraph changes
        "body_text": story["body_text"].replace("at least 25 others", "at least 34 others"),
    }
    copy = {**story, "uri": story["uri"] + ":feed2"}
    kill = {"uri": copy["uri"], "version": 2, "pubstatus": "canceled", "headline": story["headline"]}
    lines = [
        json.dumps(story, ensure_ascii=False),
        json.dumps(update, ensure_ascii=False),
        json.dumps(copy, ensure_ascii=False),
        json.dumps(kill, ensure_ascii=False),
        json.dumps(json.loads(NINJS2.read_text()), ensure_ascii=False),
        json.dumps(story, ensure_ascii=False)[:200],
        json.dumps({**story, "uri": "demo:wrong-type", "version": {"major": 1}}, ensure_ascii=False),
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} lines to {OUT}")


if __name__ == "__main__":
    main()
