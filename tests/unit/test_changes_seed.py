"""The seed story and an update of it through ``wirepipe enrich``'s path (``OfflinePipeline``, real model).

The update and what it must say are in ``tests/seed_versions.py``; a worker on the real broker must give
the same (``tests/integration/test_changes.py``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.enricher import Enricher
from pipeline.offline import OfflinePipeline
from pipeline.settings import get_settings
from pipeline.stages.changes import StorySnapshot, quote_fates, quote_retractions
from schemas.records import EnrichedArticle
from tests.seed_versions import EXPECTED, V1, V2, what_changed


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    settings = get_settings()
    return Enricher(settings.spacy_model, batch_size=settings.batch_size)


def _published(pipeline: OfflinePipeline, *values: bytes) -> list[EnrichedArticle]:
    out = list(pipeline.run(values))
    assert all(isinstance(r, EnrichedArticle) for r in out)
    return [r for r in out if isinstance(r, EnrichedArticle)]


def _what_changed(record: EnrichedArticle) -> dict[str, Any]:
    return what_changed(record.model_dump(mode="json")["changes"])


def test_an_update_with_one_edit_one_addition_and_one_quote_gone_says_exactly_that(
    enricher: Enricher,
) -> None:
    """v1 is enriched without changes; v2 reports the edited number, the added paragraph, the removed
    paragraph with its quote, and nothing else."""
    v1, v2 = _published(OfflinePipeline(enricher=enricher), V1, V2)
    assert (v1.outcome, v1.changes) == ("enriched", None)
    assert v2.outcome == "update"
    assert _what_changed(v2) == EXPECTED["changes"]


def test_the_quote_fates_are_one_retracted_and_the_others_unchanged(enricher: Enricher) -> None:
    """What the quotes topic will say: every quote of v2 unchanged, one quote of v1 retracted."""
    pipeline = OfflinePipeline(enricher=enricher)
    (v1,) = _published(pipeline, V1)
    before = pipeline.stories[v1.id]
    (v2,) = _published(pipeline, V2)
    fates = quote_fates(before, v2)
    assert set(fates.current) == {"unchanged"}
    assert len(fates.current) == len(v1.quotes) - 1
    assert fates.retracted == [EXPECTED["retracted_index"]]
    assert pipeline.stories[v2.id].quote_status == fates.current


def test_the_retractions_withdraw_the_gone_quote_and_free_the_slot_of_the_one_that_moved(
    enricher: Enricher,
) -> None:
    """Seloom's quote is retracted as gone; the last quote moved up one index, so its old slot is retracted
    as 'unchanged' (it is published again at its new index)."""
    pipeline = OfflinePipeline(enricher=enricher)
    (v1,) = _published(pipeline, V1)
    before = pipeline.stories[v1.id]
    (v2,) = _published(pipeline, V2)
    got = [[r.index, r.speaker_key, r.status] for r in quote_retractions(before, v2)]
    assert got == EXPECTED["retractions"]
    assert [[r.index, r.speaker_key, r.status] for r in pipeline.stories[v2.id].retractions] == got


def test_a_restart_between_the_versions_gives_the_same_changes(enricher: Enricher) -> None:
    """The state a worker keeps (the versions entry and the story snapshot, as JSON) is all v2 needs: a
    new process that reads it back reports what an uninterrupted one does."""
    first = OfflinePipeline(enricher=enricher)
    _published(first, V1)
    stories = {k: v.model_dump(mode="json") for k, v in first.stories.items()}
    kept = json.loads(json.dumps({"versions": first.versions, "stories": stories}))
    restarted = OfflinePipeline(
        enricher=enricher,
        versions=kept["versions"],
        stories={k: StorySnapshot.model_validate(v) for k, v in kept["stories"].items()},
    )
    (v2,) = _published(restarted, V2)
    assert _what_changed(v2) == EXPECTED["changes"]


def test_two_versions_in_one_batch_are_compared_in_order(enricher: Enricher) -> None:
    """v1 and v2 in the same NLP batch: v2's previous version is v1, as when they arrive apart."""
    pipeline = OfflinePipeline(enricher=enricher)
    out = [r for r in pipeline.run([V1, V2], batch_size=16) if isinstance(r, EnrichedArticle)]
    assert _what_changed(out[1]) == EXPECTED["changes"]
