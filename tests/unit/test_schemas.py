"""The committed JSON Schema files are the contract; they must match the models."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.export import MODELS, SCHEMA_DIR, render
from schemas.records import EnrichedArticle


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_schema_is_up_to_date(name: str) -> None:
    """Run `make schema` when this fails."""
    assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == render(MODELS[name])


def test_output_records_forbid_unknown_fields_and_are_frozen() -> None:
    now = datetime.now(UTC)
    record = EnrichedArticle(outcome="enriched", id="a", version=1, processed_at=now)
    assert record.schema_version == "1"
    with pytest.raises(ValidationError):
        EnrichedArticle(outcome="enriched", id="a", version=1, processed_at=now, extra=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        record.id = "b"  # type: ignore[misc]
