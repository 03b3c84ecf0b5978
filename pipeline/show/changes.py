"""An update's ``changes`` as a page section: the summary, corrections, the headline, numbers, paragraphs
(edits as word diffs), quotes and entities, each linked to the paragraph of the body it concerns."""

from __future__ import annotations

import html

from schemas.records import Changes, ParagraphEdit, QuoteChange


def _e(value: object) -> str:
    return html.escape(str(value))


def changes_section(changes: Changes | None) -> str:
    """The ``Changes`` section of an update's page; empty for a record without changes."""
    if changes is None:
        return ""
    parts = [
        '<section class="changes"><h2>Changes</h2>',
        f'<p class="summary">against version {_e(changes.previous_version)}: {_e(changes.summary)}</p>',
    ]
    if changes.correction:
        items = "".join(f"<li>{_e(why)}</li>" for why in changes.correction)
        parts.append(f'<div class="notice correction"><strong>Correction</strong><ul>{items}</ul></div>')
    if changes.headline is not None:
        parts.append(
            f"<h3>Headline</h3><p><del>{_e(changes.headline.old or '')}</del><br>"
            f"<ins>{_e(changes.headline.new or '')}</ins></p>"
        )
    if changes.numbers:
        rows = "".join(
            f'<tr><td><a href="#p{n.paragraph}">¶{n.paragraph}</a></td><td>{_e(n.before)}</td>'
            f"<td><del>{_e(n.old)}</del> → <ins>{_e(n.new)}</ins></td><td>{_e(n.after)}</td></tr>"
            for n in changes.numbers
        )
        parts.append(
            "<h3>Numbers</h3><table><tr><th>paragraph</th><th>after</th><th>changed</th><th>before</th></tr>"
            f"{rows}</table>"
        )
    if changes.paragraphs_edited:
        parts.append("<h3>Paragraphs edited</h3>")
        parts.extend(_edit(edit) for edit in changes.paragraphs_edited)
    for title, css, paragraphs, anchor in (
        ("Paragraphs added", "added", changes.paragraphs_added, True),
        ("Paragraphs removed", "removed", changes.paragraphs_removed, False),
    ):
        if paragraphs:
            items = "".join(f"<li>{_paragraph_ref(p.index, anchor)} {_e(p.text)}</li>" for p in paragraphs)
            parts.append(f'<h3>{title}</h3><ul class="{css}">{items}</ul>')
    parts.append(_quotes(changes))
    parts.append(_entities(changes))
    parts.append("</section>")
    return "".join(parts)


def _paragraph_ref(index: int, anchor: bool) -> str:
    """A link to a paragraph of this version's body; a paragraph of the previous version is only named."""
    return f'<a href="#p{index}">¶{index}</a>' if anchor else f'<span class="muted">old ¶{index}</span>'


def _edit(edit: ParagraphEdit) -> str:
    words = []
    for change in edit.words:
        if change.old:
            words.append(f"<del>{_e(change.old)}</del>")
        if change.new:
            words.append(f"<ins>{_e(change.new)}</ins>")
    span = "" if edit.new_count == 1 else f"–{edit.new_index + edit.new_count - 1}"
    return (
        f'<p class="edit">{_paragraph_ref(edit.new_index, True)}{span} '
        f'<span class="muted">(old ¶{edit.old_index}, {round(edit.similarity * 100)}% the same)</span> '
        + " … ".join(words)
        + "</p>"
    )


def _quote_item(quote: QuoteChange) -> str:
    speaker = _e(quote.speaker) if quote.speaker else '<span class="muted">no speaker</span>'
    return f"<li>“{_e(quote.text)}” — {speaker} <code>{_e(quote.speaker_key)}</code></li>"


def _quotes(changes: Changes) -> str:
    parts = []
    for title, quotes in (("Quotes added", changes.quotes_added), ("Quotes removed", changes.quotes_removed)):
        if quotes:
            parts.append(f"<h3>{title}</h3><ul>{''.join(_quote_item(q) for q in quotes)}</ul>")
    if changes.quotes_reattributed:
        items = "".join(
            f"<li>“{_e(q.text)}”: <del>{_e(q.old_speaker or 'no speaker')}</del> → "
            f"<ins>{_e(q.new_speaker or 'no speaker')}</ins></li>"
            for q in changes.quotes_reattributed
        )
        parts.append(f"<h3>Quotes re-attributed</h3><ul>{items}</ul>")
    return "".join(parts)


def _entities(changes: Changes) -> str:
    parts = []
    for title, entities in (
        ("Entities added", changes.entities_added),
        ("Entities removed", changes.entities_removed),
    ):
        if entities:
            items = "".join(f"<li>{_e(e.name)} <code>{_e(e.id)}</code></li>" for e in entities)
            parts.append(f"<h3>{title}</h3><ul>{items}</ul>")
    return "".join(parts)
