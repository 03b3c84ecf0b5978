"""examples/consumer.py: the pure follow-a-speaker and number-watching logic, fed records built from the real
v1 QuoteRecord and EnrichedArticle, some of them made by the changes stage itself."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline.stages.changes import StorySnapshot, quote_key, snapshot_of, track
from schemas.records import EnrichedArticle, Paragraph, Quote, QuoteRecord, QuoteStatus, Span

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
    status: QuoteStatus | None = None,
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
        status=status,
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


def test_a_retraction_says_whether_the_quote_is_gone_or_now_someone_elses() -> None:
    """``status`` on a retraction: "retracted" (gone) and "reattributed" (another speaker's now) are news."""
    _, gone = _run([_record(), _record(version=2, retracted=True, status="retracted")])
    _, moved = _run([_record(), _record(version=2, retracted=True, status="reattributed")])
    assert [c.kind for c in gone] == ["new", "retracted"]
    assert [c.kind for c in moved] == ["new", "reattributed"]
    assert consumer.describe(moved[1]).startswith("- NOW ATTRIBUTED TO SOMEONE ELSE")


def test_a_quote_that_only_moved_to_another_index_is_no_news() -> None:
    """The old index is retracted as "unchanged" and the quote comes again at its new index: still shown once,
    nothing reported."""
    records = [
        _record(index=2),
        _record(version=2, index=2, retracted=True, status="unchanged"),
        _record(version=2, index=1, status="unchanged"),
    ]
    state, changes = _run(records)
    assert [c.kind for c in changes] == ["new"]
    assert list(state.shown) == [("urn:a1", 1)]


def _article(version: int, paragraphs: list[str], quotes: list[Quote]) -> EnrichedArticle:
    spans, pos = [], 0
    for text in paragraphs:
        spans.append(Paragraph(start=pos, end=pos + len(text)))
        pos += len(text) + 2
    return EnrichedArticle(
        outcome="enriched" if version == 1 else "update",
        id="urn:a1",
        version=version,
        headline="Election night",
        body="\n\n".join(paragraphs),
        paragraphs=spans,
        quotes=quotes,
        processed_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


def _quote(text: str, speaker: str, paragraph: int) -> Quote:
    key = "PERSON:" + speaker.lower().replace(" ", "-")
    return Quote(
        text=text, spans=[Span(start=0, end=1)], paragraph=paragraph, speaker=speaker, speaker_entity_id=key
    )


def _published(
    previous: StorySnapshot | None, article: EnrichedArticle
) -> tuple[StorySnapshot, list[dict[str, Any]]]:
    """What a worker publishes for one version: its retractions first, then one record per quote, as the
    changes stage says (``track``)."""
    update = track(previous, article, 0.0)
    records = [
        QuoteRecord(
            article_id=article.id,
            article_version=r.version,
            index=r.index,
            speaker_key=r.speaker_key,
            retracted=True,
            status=r.status,
            processed_at=article.processed_at,
        ).model_dump(mode="json")
        for r in update.retractions
    ]
    records += [
        QuoteRecord(
            article_id=article.id,
            article_version=article.version,
            index=i,
            speaker_key=quote_key(q, article.id),
            quote=q,
            status=status,
            headline=article.headline,
            processed_at=article.processed_at,
        ).model_dump(mode="json")
        for i, (q, status) in enumerate(zip(article.quotes, update.quote_status, strict=True))
    ]
    return update.snapshot, records


def test_a_followed_speakers_withdrawn_quote_is_reported_once_from_real_records() -> None:
    """Two versions through the changes stage: Jane Doe's second quote is cut in version 2, John Roe's quote
    moves up to its index. Jane's follower hears "retracted" once; John's follower hears nothing new."""
    lede = "Jane Doe said the count would go on through the night in every district of the state."
    cut = "We will win this and we will win it fairly, whatever they say about us tonight"
    other = "It is far too early to call anything at all in this race"
    v1 = _article(
        1,
        [lede, f"“{cut},” she said.", f"“{other},” John Roe said."],
        [
            _quote("We will count every vote", "Jane Doe", 0),
            _quote(cut, "Jane Doe", 1),
            _quote(other, "John Roe", 2),
        ],
    )
    v2 = _article(
        2,
        [lede, f"“{other},” John Roe said."],
        [_quote("We will count every vote", "Jane Doe", 0), _quote(other, "John Roe", 1)],
    )
    snapshot, first = _published(None, v1)
    _, second = _published(snapshot, v2)
    _, jane = _run(first + second, "Jane Doe")
    _, john = _run(first + second, "John Roe")
    assert [(c.kind, c.quote.text) for c in jane] == [
        ("new", "We will count every vote"),
        ("new", cut),
        ("retracted", cut),
    ]
    assert [c.kind for c in john] == ["new"]


def test_number_alerts_report_the_numbers_an_update_changed_and_a_correction() -> None:
    """From a record the changes stage made: "killed 12 -> 15 people", and the correction it flags."""
    lede = "Militants killed 12 people in an attack on a market in the north of the country on Sunday."
    v1 = _article(1, [lede], [])
    snapshot = snapshot_of(v1, [], 0.0)
    v2 = _article(2, [lede.replace("12", "15")], []).model_copy(update={"headline_slug": "CORRECTED-"})
    record = track(snapshot, v2, 0.0).record.model_dump(mode="json")
    assert consumer.number_alerts(record) == [
        "! CORRECTION urn:a1 v1->v2: headline slug CORRECTED",
        "# NUMBER     urn:a1 v1->v2: Militants killed 12 -> 15 people  (Election night)",
    ]


def test_number_alerts_ignore_records_without_changes() -> None:
    """A first version (or any record without ``changes``) has nothing to report."""
    record = _article(1, ["Some text of the story that is long enough to be one."], []).model_dump(
        mode="json"
    )
    assert consumer.number_alerts(record) == []
