"""What travels between the worker's steps (process.Envelope on the wire) and what an outcome publishes
(pipeline.stream.outputs). No broker, no Faust."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from pipeline.envelope import Envelope, Limits, Source
from pipeline.process import article_outcome, check_duplicate, ingest, is_duplicate
from pipeline.stages.changes import StorySnapshot, track
from pipeline.stream.outputs import outcome_outputs, withdrawal_outputs
from pipeline.wire import NotAnEnvelopeError, WireEnvelope, check_duplicate_wire
from schemas.records import EnrichedArticle, Quote

_VOCAB = [f"w{i}" for i in range(3000)]


def _raw(uri: str, seed: int, *, words: int = 120, headline: str = "A headline") -> bytes:
    rng = random.Random(seed)
    body = ". ".join(" ".join(rng.choice(_VOCAB) for _ in range(12)) for _ in range(words // 12))
    return json.dumps({"uri": uri, "version": 1, "headline": headline, "body_text": body}).encode()


def _envelope(value: bytes, offset: int = 7) -> Envelope:
    step = ingest(Source(value=value, topic="raw", partition=3, offset=offset), {}, Limits())
    assert isinstance(step, Envelope)
    return step


def test_an_envelope_crosses_the_wire_with_its_article_and_place_but_not_the_original_bytes() -> None:
    value = _raw("urn:a", 1)
    envelope = _envelope(value)
    assert envelope.original == value  # kept in memory for `wirepipe enrich`

    back = WireEnvelope.parse(envelope.to_wire()).envelope()

    assert back.article == envelope.article
    assert back.key == envelope.key and back.timings_ms == envelope.timings_ms
    assert back.original is None
    assert value not in envelope.to_wire()
    source = back.source()
    assert (source.value, source.key) == (None, b"urn:a")
    assert (source.topic, source.partition, source.offset) == ("raw", 3, 7)


def test_dedup_on_the_wire_gives_the_verdicts_of_the_envelope_path_and_forwards_the_article_bytes() -> None:
    values = [_raw(f"urn:{i}", i) for i in range(6)]
    values += [_raw("urn:copy-of-2", 2), _raw("urn:copy-of-4", 4, headline="Another headline")]
    on_envelopes: dict[str, Any] = {}
    on_wire: dict[str, Any] = {}
    verdicts = {}
    for offset, value in enumerate(values):
        envelope = _envelope(value, offset)
        wire = envelope.to_wire()
        judged = check_duplicate(envelope, on_envelopes, Limits())
        hop = check_duplicate_wire(WireEnvelope.parse(wire), on_wire, Limits())

        assert hop.article_json == WireEnvelope.parse(wire).article_json
        assert hop.is_duplicate == is_duplicate(judged)
        forwarded = WireEnvelope.parse(hop.to_wire()).envelope()
        assert forwarded.verdict is not None and judged.verdict is not None
        assert forwarded.verdict.status == judged.verdict.status
        assert forwarded.verdict.duplicate_of == judged.verdict.duplicate_of
        assert "dedup" in forwarded.timings_ms
        assert forwarded.key is None  # nothing after the dedup step reads it
        verdicts[hop.uri] = forwarded.verdict
    assert on_wire.keys() == on_envelopes.keys()
    copy = verdicts["urn:copy-of-2"]
    assert (copy.status, copy.duplicate_of) == ("duplicate", "urn:2")
    assert verdicts["urn:copy-of-4"].duplicate_of == "urn:4"
    assert {verdicts[f"urn:{i}"].status for i in range(6)} == {"unique"}


@pytest.mark.parametrize("value", [b"", b"{}", b'{"uri": 1}\n{}', b"not json\n{}", b"[1, 2]"])
def test_bytes_that_are_not_an_envelope_are_refused(value: bytes) -> None:
    with pytest.raises(NotAnEnvelopeError, match="not an envelope"):
        WireEnvelope.parse(value)


def _enriched(outcome: str = "enriched", quotes: int = 2) -> EnrichedArticle:
    envelope = _envelope(_raw("urn:story", 5))
    record = article_outcome(
        envelope,
        quotes=[
            Quote(
                text=f"quote {i}",
                spans=[],
                paragraph=0,
                speaker="Jane Doe" if i % 2 == 0 else None,
                speaker_entity_id="PERSON:jane-doe" if i == 0 else None,
            )
            for i in range(quotes)
        ],
    )
    return record.model_copy(update={"outcome": outcome})


def test_an_outcome_publishes_its_record_and_one_record_per_quote_keyed_by_its_speaker() -> None:
    record = _enriched()
    published = outcome_outputs(record, Source(value=None, topic="raw", partition=1, offset=4))

    assert [(o.topic, o.key) for o in published.records] == [
        ("enriched", b"urn:story"),
        ("quotes", b"PERSON:jane-doe"),
        ("quotes", b"unknown:urn:story"),
    ]
    assert EnrichedArticle.model_validate_json(published.records[0].value or b"") == record
    assert published.story is None, "without a tracked story there is nothing to keep"
    assert published.log["partition"] == 1 and published.log["outcome"] == "enriched"


def test_a_withdrawn_story_is_followed_by_its_tombstone_and_a_stale_version_keeps_its_own_key() -> None:
    withdrawn = outcome_outputs(_enriched("withdrawn", quotes=0))
    tombstone = [(b"urn:story", False), (b"urn:story", True)]
    assert [(o.key, o.value is None) for o in withdrawn.records] == tombstone
    stale = outcome_outputs(_enriched("stale", quotes=0))
    assert [o.key for o in stale.records] == [b"urn:story@stale-v1"]


def test_an_update_retracts_the_quotes_it_dropped_before_its_own_and_says_what_became_of_each() -> None:
    first = _enriched(quotes=3)
    kept = track(None, first, now=0.0).snapshot
    update = _enriched("update", quotes=1).model_copy(update={"version": 2})
    story = track(kept, update, now=1.0)
    published = outcome_outputs(update, story=story)

    quotes = [json.loads(o.value or b"") for o in published.records if o.topic == "quotes"]
    retractions = [(q["index"], q["article_version"], q["status"]) for q in quotes if q["retracted"]]
    assert retractions == [(1, 1, "retracted"), (2, 1, "retracted")]
    assert [(q["index"], q["article_version"], q["status"]) for q in quotes if not q["retracted"]] == [
        (0, 2, "unchanged")
    ]
    assert quotes.index(next(q for q in quotes if not q["retracted"])) == 2, "retractions go first"
    assert StorySnapshot.from_state(published.story or {}).version == 2


def test_a_withdrawn_story_retracts_every_quote_it_published_under_its_speaker_key() -> None:
    snapshot = track(None, _enriched(quotes=3), now=0.0).snapshot
    outputs = withdrawal_outputs(snapshot)
    assert [o.key for o in outputs] == [b"PERSON:jane-doe", b"unknown:urn:story", b"name:Jane Doe"]
    records = [json.loads(o.value or b"") for o in outputs]
    assert [(r["index"], r["retracted"], r["status"], r["article_version"]) for r in records] == [
        (0, True, "retracted", 1),
        (1, True, "retracted", 1),
        (2, True, "retracted", 1),
    ]
