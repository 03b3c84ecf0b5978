"""The product path for the evals: labelled texts through the same code as ``wirepipe enrich``.

Each labelled text goes in as the raw record a consumer would send (``{uri, body_text}`` for the NER and
quote sets, ``{uri, url, html}`` for web pages), through ``process.OfflinePipeline`` (decode, version
check, clean, NLP, outcome records) with deduplication off: two similar labelled texts are two test
items, not a copy of one. What comes out is the published ``EnrichedArticle``, whose offsets point into
its own ``headline``, ``dateline.text`` and ``body``; ``Alignment`` maps them back into the labelled text
so the shipped scorers can read them. Whatever cleaning changed or cut simply has no counterpart there:
an entity or quote in text the product lost is a miss, as it is for a consumer.
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.enricher import Enricher, NlpResult
from pipeline.models import CleanArticle
from pipeline.offline import OfflinePipeline
from schemas.records import DeadLetter, EnrichedArticle, Quote

_WORD = re.compile(r"\S+")

#: The published parts whose offsets entities and quotes use, in the order they come in an article.
PARTS = ("headline", "dateline", "body")


class NoNlp(Enricher):
    """The NLP step left out, for the cleaning set: its score reads only the published text, which NLP
    never changes, and 768 web pages through spaCy would cost minutes for nothing."""

    def __init__(self) -> None:  # no model to load
        self.batch_size = 16

    def __call__(self, articles: Sequence[CleanArticle]) -> list[NlpResult]:
        return [NlpResult(skipped="eval: cleaning only") for _ in articles]


def run_product(records: Iterable[dict[str, Any]], enricher: Enricher) -> list[EnrichedArticle | DeadLetter]:
    """Every record through ``OfflinePipeline`` (dedup off), one outcome each, in input order."""
    pipeline = OfflinePipeline(enricher=enricher, dedup=False)
    values = (json.dumps(r, ensure_ascii=False).encode("utf-8") for r in records)
    return list(pipeline.run(values, batch_size=enricher.batch_size))


@dataclass
class Through:
    """One labelled text after the product: its published record (None for a dead letter) and the map
    from the record's offsets back into the text."""

    gold: dict[str, Any]
    record: EnrichedArticle | None
    alignment: Alignment | None


def through_product(
    gold: Sequence[dict[str, Any]], enricher: Enricher
) -> tuple[list[Through], dict[str, Any]]:
    """Each labelled ``text`` sent as ``{uri, body_text}`` (no headline, no language: what a consumer
    with only the text would send), and what happened: per text its record, plus counts of outcomes."""
    records = run_product(({"uri": g["id"], "body_text": g["text"]} for g in gold), enricher)
    out: list[Through] = []
    counts: dict[str, int] = {}
    for g, record in zip(gold, records, strict=True):
        if isinstance(record, DeadLetter):
            counts[f"dead_letter:{record.error_code}"] = counts.get(f"dead_letter:{record.error_code}", 0) + 1
            out.append(Through(g, None, None))
            continue
        kind = "nlp_skipped" if record.reason else record.outcome
        counts[kind] = counts.get(kind, 0) + 1
        out.append(Through(g, record, Alignment(g["text"], published_parts(record))))
    return out, counts


def published_parts(record: EnrichedArticle) -> list[tuple[str, str]]:
    """``(part, text)`` of what the record publishes, in article order."""
    parts: list[tuple[str, str]] = []
    if record.headline:
        parts.append(("headline", record.headline))
    if record.dateline is not None:
        parts.append(("dateline", record.dateline.text))
    parts.append(("body", record.body))
    return parts


@dataclass
class _Word:
    part: str
    start: int
    text: str
    original: int | None = None  # start of the matching word in the labelled text


class Alignment:
    """Maps offsets in a record's published parts to offsets in the labelled text it came from.

    Words (runs of non-space) of the body are aligned with the words of the labelled text by ``difflib``
    (a longest-matching-blocks diff, so a cut paragraph is just a gap); a headline, dateline or byline
    taken from the text is then found among the words the body left over, wherever it stood (a title line
    can come before or after the dateline). Within a word the offset carries over. Words that cleaning
    changed (repaired characters) are paired one to one when their runs have the same length, else
    unmapped.
    """

    def __init__(self, original: str, parts: Sequence[tuple[str, str]]) -> None:
        self.original = original
        a = [(m.start(), m.group()) for m in _WORD.finditer(original)]
        claimed = [False] * len(a)
        self._words: dict[str, list[_Word]] = {}
        for name, text in sorted(parts, key=lambda p: p[0] != "body"):
            b = [_Word(name, m.start(), m.group()) for m in _WORD.finditer(text)]
            self._words[name] = b
            if name == "body" or not self._run(a, b, claimed):
                self._diff(a, b, claimed)
        self._starts = {part: [w.start for w in words] for part, words in self._words.items()}

    @staticmethod
    def _diff(a: list[tuple[int, str]], b: list[_Word], claimed: list[bool]) -> None:
        matcher = difflib.SequenceMatcher(None, [w for _, w in a], [w.text for w in b], autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
                for k in range(i2 - i1):
                    if not claimed[i1 + k]:
                        b[j1 + k].original = a[i1 + k][0]
                        claimed[i1 + k] = True

    @staticmethod
    def _run(a: list[tuple[int, str]], b: list[_Word], claimed: list[bool]) -> bool:
        """Place ``b`` on the first unclaimed run of identical words; False when there is none."""
        n = len(b)
        if n == 0:
            return True
        texts = [w.text for w in b]
        for i in range(len(a) - n + 1):
            if not any(claimed[i : i + n]) and [w for _, w in a[i : i + n]] == texts:
                for k in range(n):
                    b[k].original = a[i + k][0]
                    claimed[i + k] = True
                return True
        return False

    def _point(self, part: str, offset: int, *, end: bool) -> int | None:
        words = self._words.get(part)
        if not words:
            return None
        probe = offset - 1 if end else offset
        i = bisect.bisect_right(self._starts[part], probe) - 1
        if i < 0:
            return None
        word = words[i]
        inside = probe - word.start
        if word.original is None or not 0 <= inside < len(word.text):
            return None
        return word.original + inside + (1 if end else 0)

    def span(self, part: str, start: int, end: int) -> tuple[int, int] | None:
        """``[start, end)`` of ``part`` as offsets into the labelled text, or None when not there."""
        if end <= start:
            return None
        s, e = self._point(part, start, end=False), self._point(part, end, end=True)
        if s is None or e is None or e <= s:
            return None
        return s, e


def entity_rows(record: EnrichedArticle, alignment: Alignment) -> list[dict[str, Any]]:
    """Every published mention, in labelled-text offsets, labelled with its entity's label."""
    rows = []
    for entity in record.entities:
        for mention in entity.mentions:
            part = getattr(mention, "part", None) or "body"
            found = alignment.span(part, mention.start, mention.end)
            if found is not None:
                rows.append({"start": found[0], "end": found[1], "label": entity.label, "entity": entity.id})
    return rows


def quote_spans(record: EnrichedArticle, alignment: Alignment) -> list[MappedQuote]:
    """Published quotes with their content spans and speaker span in labelled-text offsets."""
    out = []
    for quote in record.quotes:
        spans = [alignment.span("body", s.start, s.end) for s in quote.spans]
        speaker = None
        if quote.speaker_start is not None and quote.speaker_end is not None:
            speaker = alignment.span("body", quote.speaker_start, quote.speaker_end)
        out.append(MappedQuote(quote, [s for s in spans if s is not None], speaker))
    return out


@dataclass
class MappedQuote:
    """A quote with its content spans and speaker span as offsets into the labelled text."""

    quote: Quote
    spans: list[tuple[int, int]]
    speaker: tuple[int, int] | None


def scored_page_text(record: EnrichedArticle | DeadLetter) -> str | None:
    """What the cleaning benchmark compares: the published dateline, then the published body."""
    if isinstance(record, DeadLetter):
        return None
    head = f"{record.dateline.text} " if record.dateline else ""
    return head + record.body
