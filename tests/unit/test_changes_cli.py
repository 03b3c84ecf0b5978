"""``wirepipe tail enriched``: an update's line ends with what changed since the version before."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.cli import render
from schemas.records import Changes, EnrichedArticle


def _record(**fields: object) -> bytes:
    record = EnrichedArticle(
        outcome="update",
        id="urn:a",
        version=3,
        headline="Attack kills 15",
        processed_at=datetime(2025, 1, 1, tzinfo=UTC),
        **fields,
    )
    return record.model_dump_json().encode()


def test_an_update_line_ends_with_the_changes_summary() -> None:
    changes = Changes(previous_version=2, summary="+2 paragraphs, 1 quote removed, killed 12 -> 15 people")
    line = render(_record(changes=changes))
    assert line.startswith("UPDATE")
    assert line.endswith("| since v2: +2 paragraphs, 1 quote removed, killed 12 -> 15 people")


def test_a_record_without_changes_renders_as_before() -> None:
    assert "since" not in render(_record())
