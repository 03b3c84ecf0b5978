"""One enriched article (or dead letter) as a self-contained HTML page, displaCy's look: render_page."""

from __future__ import annotations

import base64
import binascii
import html
from collections import Counter
from collections.abc import Iterable

from pipeline.show.changes import changes_section
from pipeline.show.marks import Mark, render_marked
from pipeline.show.style import STYLESHEET, label_colour
from schemas.records import DeadLetter, EnrichedArticle, MentionPart, Paragraph

# Nothing fetched, no script run, even if some text slipped through unescaped.
CONTENT_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
_QUOTE_TAGS = {"direct": "QUOTE", "mixed": "MIXED QUOTE", "indirect": "REPORTED"}
_ORIGINAL_SHOWN = 20_000  # characters of a dead letter's original message on the page
_PREVIEW_WORDS = 8


def render_page(record: EnrichedArticle | DeadLetter) -> str:
    """The HTML page of one record: inline CSS, no script, no external fetch; all record text escaped.

    An article shows its identity, headline, byline and dateline, the body with entity mentions boxed by
    label and quotes marked with their speakers, tables of quotes and entities, what cleaning removed,
    and an update's changes once records carry them. A dead letter or a record without enrichment
    (duplicate, withdrawn, withheld, stale) shows what it has.
    """
    if isinstance(record, DeadLetter):
        return _document(f"dead letter {record.error_code}", _dead_letter_sections(record))
    return _document(record.headline or record.id, _article_sections(record))


def _document(title: str, sections: Iterable[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)} · Wirepipe</title>\n<style>{STYLESHEET}</style>\n</head>\n<body>\n"
        + "\n".join(section for section in sections if section)
        + "\n</body>\n</html>\n"
    )


def _e(value: object) -> str:
    return html.escape(str(value))


def _article_sections(record: EnrichedArticle) -> list[str]:
    facts = [
        ("id", f"<code>{_e(record.id)}</code>"),
        ("version", _e(record.version)),
        ("language", _e(record.language or "unknown")),
        ("pubstatus", _e(record.pubstatus)),
        ("created", _e(record.versioncreated) if record.versioncreated else ""),
        ("embargoed", _e(record.embargoed) if record.embargoed else ""),
        ("processed", _e(record.processed_at.isoformat())),
    ]
    return [
        _header(record.outcome, facts),
        _headline(record),
        _byline(record),
        _dateline(record),
        _notice(record),
        changes_section(record.changes),
        _body(record),
        _quotes_table(record),
        _entities_table(record),
        _removed_table(record),
    ]


def _header(outcome: str, facts: list[tuple[str, str]]) -> str:
    """The record's outcome and identity; ``facts`` are (name, already escaped HTML) pairs."""
    shown = "".join(f'<span><span class="muted">{name}</span> {m}</span>' for name, m in facts if m)
    badge = f'<span class="outcome outcome-{_e(outcome.replace(" ", "-"))}">{_e(outcome)}</span>'
    return f'<header class="record">{badge}{shown}</header>'


def _entity_marks(record: EnrichedArticle, part: MentionPart) -> list[Mark]:
    marks: list[Mark] = []
    for entity in record.entities:
        attrs = {
            "class": "ent",
            "style": f"--ent: {label_colour(entity.label)}",
            "data-entity": entity.id,
            "data-entity-label": entity.label,
            "title": f"{entity.label} · {entity.name}",
        }
        marks.extend(
            Mark(mention.start, mention.end, attrs=attrs, label=entity.label, rank=1)
            for mention in entity.mentions
            if mention.part == part
        )
    return marks


def _headline(record: EnrichedArticle) -> str:
    if record.headline is None:
        return '<h1 class="headline muted">(no headline)</h1>'
    return f'<h1 class="headline">{render_marked(record.headline, _entity_marks(record, "headline"))}</h1>'


def _byline(record: EnrichedArticle) -> str:
    if record.byline is None:
        return ""
    marked = render_marked(record.byline, _entity_marks(record, "byline"))
    return f'<p class="byline"><span class="muted">byline</span> {marked}</p>'


def _dateline(record: EnrichedArticle) -> str:
    dateline = record.dateline
    if dateline is None:
        return ""
    parts = [
        f"{name} <b>{_e(value)}</b>"
        for name, value in (("place", dateline.place), ("date", dateline.date), ("agency", dateline.agency))
        if value
    ]
    marked = render_marked(dateline.text, _entity_marks(record, "dateline"))
    return (
        f'<p class="dateline"><span class="muted">dateline</span> {marked}'
        f'<span class="parts">{" · ".join(parts)}</span></p>'
    )


def _notice(record: EnrichedArticle) -> str:
    """Why the record carries less than a full enrichment: its reason and duplicate verdict."""
    lines = []
    if record.reason:
        lines.append(f"<p><b>reason</b> {_e(record.reason)}</p>")
    verdict = record.duplicate
    if verdict.status != "unique":
        similarity = f", similarity {verdict.similarity:.3f}" if verdict.similarity is not None else ""
        lines.append(
            f"<p><b>{_e(verdict.status.replace('_', ' '))}</b> of <code>{_e(verdict.duplicate_of)}</code>"
            f"{similarity}</p>"
        )
    return f'<section class="notice">{"".join(lines)}</section>' if lines else ""


def _paragraphs(record: EnrichedArticle) -> list[tuple[int, Paragraph]]:
    """The record's paragraphs (with their index) that fit the body, in order and not overlapping."""
    usable, reached = [], 0
    for index, paragraph in enumerate(record.paragraphs):
        if reached <= paragraph.start < paragraph.end <= len(record.body):
            usable.append((index, paragraph))
            reached = paragraph.end
    return usable


def _body(record: EnrichedArticle) -> str:
    if not record.body:
        return ""
    marks = [
        Mark(p.start, p.end, element="p", attrs={"id": f"p{n}", "data-paragraph": str(n)}, block=True)
        for n, p in _paragraphs(record)
    ]
    marks += _entity_marks(record, "body")
    speakers: dict[tuple[int, int], list[str]] = {}
    for number, quote in enumerate(record.quotes):
        tag = f"{_QUOTE_TAGS.get(quote.kind, 'QUOTE')} — {quote.speaker or 'speaker unknown'}"
        attrs = {
            "class": f"quote {quote.kind}",
            "data-quote": str(number),
            "data-speaker": quote.speaker or "",
            "title": f"quote {number}: {tag}",
        }
        marks += [
            Mark(span.start, span.end, attrs=attrs, label=tag if k == 0 else None, label_first=True, rank=0)
            for k, span in enumerate(quote.spans)
        ]
        if quote.speaker_start is not None and quote.speaker_end is not None:
            speakers.setdefault((quote.speaker_start, quote.speaker_end), []).append(str(number))
    marks += [
        Mark(start, end, attrs={"class": "speaker", "title": f"speaker of quote {', '.join(n)}"}, rank=2)
        for (start, end), n in speakers.items()
    ]
    lang = f' lang="{_e(record.language)}"' if record.language else ""
    return f'<article class="body"{lang}>{render_marked(record.body, marks)}</article>'


def _table(title: str, heads: list[str], rows: list[list[str]], css_class: str) -> str:
    """A section with a table; ``rows`` hold already escaped HTML cells."""
    if not rows:
        return ""
    head = "".join(f"<th>{h}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (
        f'<section class="{css_class}"><h2>{title}</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
    )


def _quotes_table(record: EnrichedArticle) -> str:
    # Records from before quotes carried a confidence have none: the column shows once any quote has one.
    confidences = [quote.confidence for quote in record.quotes]
    with_confidence = any(c is not None for c in confidences)
    heads = ["#", "quote", "speaker", "speaker entity", "verb", "kind", "¶"]
    rows = []
    for number, (quote, confidence) in enumerate(zip(record.quotes, confidences, strict=True)):
        row = [
            _e(number),
            _e(quote.text),
            _e(quote.speaker) if quote.speaker else '<span class="muted">unknown</span>',
            f"<code>{_e(quote.speaker_entity_id)}</code>" if quote.speaker_entity_id else "",
            _e(quote.verb or ""),
            _e(quote.kind),
            _e(quote.paragraph),
        ]
        if with_confidence:
            shown = f"{confidence:.2f}" if confidence is not None else ""
            row.append(shown)
        rows.append(row)
    return _table("Quotes", [*heads, "confidence"] if with_confidence else heads, rows, "quotes")


def _entities_table(record: EnrichedArticle) -> str:
    rows = []
    for entity in record.entities:
        parts = Counter(mention.part for mention in entity.mentions)
        rows.append(
            [
                _e(entity.name),
                f'<span class="chip" style="--ent: {label_colour(entity.label)}">{_e(entity.label)}</span>',
                f"<code>{_e(entity.id)}</code>",
                _e(entity.count),
                _e(", ".join(f"{part} {n}" for part, n in parts.items())),
            ]
        )
    return _table("Entities", ["name", "label", "id", "count", "mentions"], rows, "entities")


def _removed_table(record: EnrichedArticle) -> str:
    paragraphs = record.paragraphs
    rows = []
    for removed in record.removed:
        if removed.before_paragraph < len(paragraphs):
            paragraph = paragraphs[removed.before_paragraph]
            words = record.body[paragraph.start : paragraph.end].split()
            preview = " ".join(words[:_PREVIEW_WORDS]) + (" …" if len(words) > _PREVIEW_WORDS else "")
            n = removed.before_paragraph
            where = f'before <a href="#p{n}">¶{n}</a> {_e(preview)}'
        else:
            where = "after the last paragraph"
        rows.append([_e(removed.text), _e(removed.reason), where])
    return _table("Removed by cleaning", ["text", "reason", "where"], rows, "removed")


def _dead_letter_sections(record: DeadLetter) -> list[str]:
    facts = [
        ("article", f"<code>{_e(record.article_id)}</code>" if record.article_id else "unknown"),
        ("failed", _e(record.failed_at.isoformat())),
    ]
    details: list[tuple[str, object]] = [
        ("error code", record.error_code),
        ("stage", record.stage),
        ("message", record.message),
        ("topic", record.topic),
        ("partition", record.partition),
        ("offset", record.offset),
    ]
    rows = "".join(f"<dt>{name}</dt><dd>{_e(value)}</dd>" for name, value in details if value is not None)
    original = _decoded(record.original_b64)
    shown = original[:_ORIGINAL_SHOWN]
    cut = f" (first {len(shown):,} of {len(original):,} characters)" if len(original) > len(shown) else ""
    return [
        _header("dead letter", facts),
        f'<h1 class="headline">Dead letter {_e(record.error_code)}</h1>',
        f'<section class="notice"><dl>{rows}</dl></section>',
        f"<section><h2>Original message{cut}</h2><pre>{_e(shown)}</pre></section>",
    ]


def _decoded(original_b64: str) -> str:
    try:
        raw = base64.b64decode(original_b64, validate=True)
    except (binascii.Error, ValueError):
        return "(not valid base64)"
    return raw.decode("utf-8", "replace")
