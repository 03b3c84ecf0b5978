"""Story state through ``process.finish`` and ``OfflinePipeline`` (NLP replaced by a step finding nothing)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipeline.enricher import Enricher, NlpResult
from pipeline.envelope import Envelope, Limits, Source
from pipeline.errors import ErrorCode, Stage, StageError
from pipeline.models import CleanArticle
from pipeline.offline import OfflinePipeline
from pipeline.process import Finished, finish, ingest
from schemas.records import DeadLetter, EnrichedArticle

URI = "urn:test:story"
LEDE = (
    "Militants killed 12 people in an attack on a market in the north of the country on Sunday, police said."
)
SECOND = (
    "The attack came a week after a similar raid on a village near the border with the neighbouring state."
)


class _NoNlp(Enricher):
    def __init__(self, fail: str | None = None) -> None:
        self.batch_size = 16
        self.fail = fail  # a body text whose NLP fails

    def __call__(self, articles: Sequence[CleanArticle]) -> list[NlpResult]:
        return [
            NlpResult(error=StageError(ErrorCode.E_INTERNAL, Stage.ENTITIES, "boom"))
            if a.body == self.fail
            else NlpResult()
            for a in articles
        ]


def _item(version: int, *paragraphs: str, **fields: Any) -> bytes:
    return json.dumps(
        {"uri": URI, "version": version, "body_text": "\n\n".join(paragraphs), **fields}
    ).encode()


def _run(pipeline: OfflinePipeline, *values: bytes) -> list[EnrichedArticle | DeadLetter]:
    return list(pipeline.run(values))


def _envelope(value: bytes) -> Envelope:
    step = ingest(Source(value), {}, Limits())
    assert isinstance(step, Envelope)
    return step


def test_an_update_carries_changes_and_the_first_version_none() -> None:
    pipeline = OfflinePipeline(enricher=_NoNlp())
    v1, v2 = _run(pipeline, _item(1, LEDE), _item(2, LEDE.replace("12", "15"), SECOND))
    assert isinstance(v1, EnrichedArticle) and isinstance(v2, EnrichedArticle)
    assert v1.changes is None
    assert v2.changes is not None
    assert v2.changes.summary == "+1 paragraph, 1 paragraph edited, Militants killed 12 -> 15 people"
    assert pipeline.stories[URI].version == 2


def test_a_withdrawn_story_drops_its_snapshot_and_a_later_version_starts_afresh() -> None:
    """After a kill the next usable version is a new story: 'enriched', no changes."""
    pipeline = OfflinePipeline(enricher=_NoNlp())
    _run(pipeline, _item(1, LEDE))
    [killed] = _run(pipeline, _item(2, LEDE, pubstatus="canceled"))
    assert isinstance(killed, EnrichedArticle) and killed.outcome == "withdrawn"
    assert URI not in pipeline.stories
    [again] = _run(pipeline, _item(3, LEDE, SECOND))
    assert isinstance(again, EnrichedArticle)
    assert (again.outcome, again.changes) == ("enriched", None)


def test_a_withheld_story_drops_its_snapshot() -> None:
    pipeline = OfflinePipeline(enricher=_NoNlp())
    _run(pipeline, _item(1, LEDE), _item(2, LEDE, pubstatus="withheld"))
    assert URI not in pipeline.stories


def test_a_redelivered_update_reports_the_same_changes() -> None:
    """The same (uri, version) again: the same outcome, and the same changes, not 'no change'."""
    pipeline = OfflinePipeline(enricher=_NoNlp())
    _, first, again = _run(pipeline, _item(1, LEDE), _item(2, LEDE, SECOND), _item(2, LEDE, SECOND))
    assert isinstance(first, EnrichedArticle) and isinstance(again, EnrichedArticle)
    assert again.outcome == first.outcome == "update"
    assert again.changes == first.changes
    assert again.changes is not None and again.changes.summary == "+1 paragraph"


def test_an_update_whose_previous_version_is_no_longer_kept_has_no_changes() -> None:
    """An expired snapshot: the update is published, without changes."""
    pipeline = OfflinePipeline(enricher=_NoNlp())
    _run(pipeline, _item(1, LEDE))
    pipeline.stories.clear()
    [v2] = _run(pipeline, _item(2, LEDE, SECOND))
    assert isinstance(v2, EnrichedArticle)
    assert (v2.outcome, v2.changes) == ("update", None)


def test_the_headline_slug_and_ednote_reach_the_record_and_flag_a_correction() -> None:
    pipeline = OfflinePipeline(enricher=_NoNlp())
    _, v2 = _run(
        pipeline,
        _item(1, LEDE, headline="Market attack kills 12"),
        _item(2, LEDE, headline="CORRECTED-Market attack kills 12", ednote="Eds: corrects day"),
    )
    assert isinstance(v2, EnrichedArticle)
    assert (v2.headline, v2.headline_slug, v2.ednote) == (
        "Market attack kills 12",
        "CORRECTED-",
        "Eds: corrects day",
    )
    assert v2.changes is not None
    assert v2.changes.correction == ["headline slug CORRECTED", "ednote: Eds: corrects day"]


def test_finish_without_previous_snapshots_returns_the_outcomes_as_before() -> None:
    """The stateless call the worker makes today is unchanged."""
    [outcome] = finish([_envelope(_item(1, LEDE))], _NoNlp())
    assert isinstance(outcome, EnrichedArticle)


def test_finish_with_previous_snapshots_returns_each_outcome_with_its_story_state() -> None:
    """A dead letter leaves the story's snapshot as it was (``story`` None)."""
    envelopes = [_envelope(_item(1, LEDE)), _envelope(_item(1, SECOND).replace(URI.encode(), b"urn:other"))]
    done = finish(envelopes, _NoNlp(fail=SECOND), [None, None], now=5.0)
    assert all(isinstance(d, Finished) for d in done)
    ok, failed = done
    assert ok.story is not None and ok.story.snapshot.saved_at == 5.0
    assert isinstance(failed.outcome, DeadLetter) and failed.story is None


def test_finish_timings_include_the_changes_step() -> None:
    [done] = finish([_envelope(_item(1, LEDE))], _NoNlp(), [None])
    assert isinstance(done.outcome, EnrichedArticle)
    assert "changes" in done.outcome.timings_ms
