"""examples/consumer.py: the pure follow-a-speaker logic, fed records built from the real v1 QuoteRecord."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from schemas.records import Quote, QuoteRecord, Span

_PATH = Path(__file__).resolve().parents[2] / "examples" / "consumer.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wirepipe_example_consumer", _PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


consumer = _load()


def _record(
    *,
    speaker_key: str = "PERSON:jane-doe",
    article_id: str = "urn:a1",
    version: int = 1,
    index: int = 0,
    text: str | None = "We will win.",
    retracted: bool = False,
) -> dict[str, Any]:
    quote = None if text is None else Quote(text=text, spans=[Span(start=0, end=len(text))], paragraph=0)
    record = QuoteRecord(
        article_id=article_id,
        article_version=version,
        index=index,
        speaker_key=speaker_key,
        quote=None if retracted else quote,
        retracted=retracted,
        headline="Election night",
        processed_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    return record.model_dump(mode="json")


def _run(records: list[dict[str, Any]], speaker: str = "PERSON:jane-doe") -> tuple[Any, list[Any]]:
    state = consumer.EMPTY
    changes = []
    for record in records:
        state, change = consumer.apply(state, record, speaker)
        if change is not None:
            changes.append(change)
    return state, changes


def test_a_quote_by_the_followed_speaker_is_shown_as_new() -> None:
    state, changes = _run([_record()])
    assert [c.kind for c in changes] == ["new"]
    assert changes[0].quote.text == "We will win."
    assert list(state.shown) == [("urn:a1", 0)]


def test_quotes_by_other_speakers_are_ignored() -> None:
    state, changes = _run([_record(speaker_key="PERSON:john-roe")])
    assert changes == []
    assert state.shown == {}


def test_speaker_matches_by_name_with_or_without_the_label_prefix() -> None:
    assert consumer.speaker_matches("PERSON:jane-doe", "Jane Doe")
    assert consumer.speaker_matches("name:Jane Doe", "jane-doe")
    assert consumer.speaker_matches("PERSON:jane-doe", "person:jane-doe")
    assert not consumer.speaker_matches("PERSON:jane-doering", "Jane Doe")


def test_a_retraction_removes_the_shown_quote() -> None:
    state, changes = _run([_record(), _record(version=2, retracted=True)])
    assert [c.kind for c in changes] == ["new", "retracted"]
    assert changes[1].quote.text == "We will win."
    assert state.shown == {}


def test_a_retraction_for_a_quote_never_shown_changes_nothing() -> None:
    state, changes = _run([_record(retracted=True)])
    assert changes == []
    assert state.shown == {}


def test_a_newer_version_of_the_same_quote_is_an_update() -> None:
    state, changes = _run([_record(), _record(version=2, text="We will surely win.")])
    assert [c.kind for c in changes] == ["new", "updated"]
    assert state.shown[("urn:a1", 0)].version == 2


def test_an_older_version_after_a_newer_one_is_ignored() -> None:
    """Redelivery and replays converge: a stale record cannot resurrect a retracted quote."""
    records = [_record(version=2, retracted=True), _record(version=1)]
    state, changes = _run(records)
    assert changes == []
    assert state.shown == {}


def test_a_redelivered_identical_record_is_not_reported_twice() -> None:
    _, changes = _run([_record(), _record()])
    assert [c.kind for c in changes] == ["new"]


def test_apply_does_not_modify_the_state_it_is_given() -> None:
    before = consumer.EMPTY
    after, _ = consumer.apply(before, _record(), "PERSON:jane-doe")
    assert before.shown == {}
    assert after.shown


def test_unknown_optional_fields_are_ignored() -> None:
    """Within v1 new optional fields may appear: the consumer must not break on them."""
    _, changes = _run([{**_record(), "future_field": {"x": 1}}])
    assert [c.kind for c in changes] == ["new"]


def test_describe_marks_retractions() -> None:
    _, changes = _run([_record(), _record(version=2, retracted=True)])
    assert consumer.describe(changes[1]).startswith("- RETRACTED")
