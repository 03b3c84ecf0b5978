"""The stages in order (``pipeline/process.py``) without a broker or a model: dead letters that name their
article, and the offline pipeline's switches. NLP is replaced by a step that skips every article."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipeline.enricher import Enricher, NlpResult
from pipeline.errors import ErrorCode
from pipeline.models import CleanArticle
from pipeline.offline import OfflinePipeline
from schemas.records import DeadLetter, EnrichedArticle

STORY = (
    "The minister said on Monday that the talks would resume next week after a pause of several months. "
    "Officials from both sides are expected to attend the meeting in the capital."
)


class _NoNlp(Enricher):
    def __init__(self) -> None:
        self.batch_size = 16

    def __call__(self, articles: Sequence[CleanArticle]) -> list[NlpResult]:
        return [NlpResult(skipped="test") for _ in articles]


def _run(*records: Any, dedup: bool = True) -> list[EnrichedArticle | DeadLetter]:
    values = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]
    return list(OfflinePipeline(enricher=_NoNlp(), dedup=dedup).run(values))


def test_item_without_a_text_body_is_a_dead_letter_that_names_its_article() -> None:
    """A valid picture item has no body: E_NO_TEXT_BODY, with ``article_id`` its uri (the publisher's key)."""
    [letter] = _run({"uri": "urn:pic:1", "type": "picture", "headline": "A photo"})
    assert isinstance(letter, DeadLetter)
    assert (letter.error_code, letter.article_id) == (ErrorCode.E_NO_TEXT_BODY.value, "urn:pic:1")


def test_invalid_item_that_names_its_uri_is_a_dead_letter_about_it() -> None:
    """An item that fails validation (a version that is no number) still carries the uri it names."""
    [letter] = _run({"uri": "urn:bad:1", "version": "seven", "body_text": STORY})
    assert isinstance(letter, DeadLetter)
    assert (letter.error_code, letter.article_id) == (ErrorCode.E_VALIDATE.value, "urn:bad:1")


def test_item_emptied_by_cleaning_names_its_article() -> None:
    """A body with nothing but markup is E_CLEAN_EMPTY about its uri."""
    [letter] = _run({"guid": "urn:empty:1", "body_html": "<div><img src='x.png'></div>"})
    assert isinstance(letter, DeadLetter)
    assert (letter.error_code, letter.article_id) == (ErrorCode.E_CLEAN_EMPTY.value, "urn:empty:1")


def test_message_that_names_nothing_has_no_article_id() -> None:
    """Bytes that are not JSON name no article: ``article_id`` stays null."""
    [letter] = _run(b"not json at all")
    assert isinstance(letter, DeadLetter)
    assert (letter.error_code, letter.article_id) == (ErrorCode.E_DECODE_JSON.value, None)


def test_dedup_off_enriches_every_copy() -> None:
    """With dedup off (the evals), a second copy of a story is enriched again, not a duplicate."""
    first, second = {"uri": "urn:a", "body_text": STORY}, {"uri": "urn:b", "body_text": STORY}
    assert [getattr(r, "outcome", None) for r in _run(first, second)] == ["enriched", "duplicate"]
    assert [getattr(r, "outcome", None) for r in _run(first, second, dedup=False)] == ["enriched", "enriched"]


def test_published_record_lists_what_cleaning_removed() -> None:
    """The enriched record carries the cleaning stage's ``removed`` list."""
    [record] = _run({"uri": "urn:r", "headline": "Talks", "body_text": f"Advertisement\n\n{STORY}"})
    assert isinstance(record, EnrichedArticle)
    assert [(r.text, r.reason) for r in record.removed] == [("Advertisement", "label")]
