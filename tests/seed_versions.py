"""The seed story and its hand-labelled update, shared by the offline and the worker tests of ``changes``.

Version 2 (``tests/data/versions/scraped_story.v2.ninjs.json``) edits one paragraph (at least 25 wounded ->
34), adds one (the drone struck the living quarters) and drops Muhanad Seloom's last quote with its paragraph.
``scraped_story.v2.changes.json`` is what the update must say.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
V1 = (DATA / "scraped_story.ninjs.json").read_bytes()
V2 = (DATA / "versions" / "scraped_story.v2.ninjs.json").read_bytes()
EXPECTED: dict[str, Any] = json.loads(
    (DATA / "versions" / "scraped_story.v2.changes.json").read_text("utf-8")
)


def what_changed(changes: dict[str, Any] | None) -> dict[str, Any]:
    """The parts of a record's ``changes`` (as published JSON) that the labels name, in their form."""
    assert changes is not None, "the update carries no changes"
    c = changes
    return {
        "previous_version": c["previous_version"],
        "summary": c["summary"],
        "headline": c["headline"],
        "correction": c["correction"],
        "paragraphs_added": [p["index"] for p in c["paragraphs_added"]],
        "paragraphs_removed": [p["index"] for p in c["paragraphs_removed"]],
        "paragraphs_edited": [[e["old_index"], e["new_index"]] for e in c["paragraphs_edited"]],
        "words": [[w["op"], w["old"], w["new"]] for e in c["paragraphs_edited"] for w in e["words"]],
        "numbers": [[n["old"], n["new"], n["paragraph"]] for n in c["numbers"]],
        "quotes_added": [q["text"] for q in c["quotes_added"]],
        "quotes_removed": [[q["text"], q["speaker_key"]] for q in c["quotes_removed"]],
        "quotes_reattributed": [q["text"] for q in c["quotes_reattributed"]],
        "entities_added": [e["id"] for e in c["entities_added"]],
        "entities_removed": [e["id"] for e in c["entities_removed"]],
    }
