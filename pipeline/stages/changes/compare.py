"""``compute_changes``: what an update changed against the last published version, and a one-line summary."""

from __future__ import annotations

import bisect
import re

from pipeline.stages.changes.quotes import current_quotes, match_quotes, quote_changes
from pipeline.stages.changes.snapshot import SnapshotEntity, StorySnapshot, notes_of, paragraph_texts
from pipeline.stages.changes.text import TextDiff, diff_paragraphs, paragraph_key, same_name
from schemas.records import Changes, EnrichedArticle, Entity, EntityChange, HeadlineChange

_CORRECT = re.compile(r"correct|clarif", re.I)
_MAX_NUMBERS = 3  # number changes spelled out in the summary; more are counted
_MAX_NAMES = 2  # entity names spelled out in the summary


def compute_changes(previous: StorySnapshot, record: EnrichedArticle) -> Changes:
    """What ``record`` changed against ``previous``, the last published version of the same story."""
    text = diff_paragraphs(previous.paragraphs, paragraph_texts(record))
    headline = None
    if paragraph_key(previous.headline or "") != paragraph_key(record.headline or ""):
        headline = HeadlineChange(old=previous.headline, new=record.headline)
    current = current_quotes(record)
    added, removed, moved = quote_changes(previous.quotes, current, match_quotes(previous.quotes, current))
    entities_added, entities_removed = _entity_changes(previous, record, text, headline is not None)
    changes = Changes(
        previous_version=previous.version,
        summary="",
        correction=_correction(previous, record),
        headline=headline,
        paragraphs_added=text.added,
        paragraphs_removed=text.removed,
        paragraphs_edited=text.edited,
        numbers=text.numbers,
        quotes_added=added,
        quotes_removed=removed,
        quotes_reattributed=moved,
        entities_added=entities_added,
        entities_removed=entities_removed,
    )
    return changes.model_copy(update={"summary": summarise(changes)})


def _correction(previous: StorySnapshot, record: EnrichedArticle) -> list[str]:
    """Why this version is a correction: each sign that it is one and that the previous version lacked."""
    why = []
    if _CORRECT.search(record.pubstatus) and record.pubstatus != previous.pubstatus:
        why.append(f"pubstatus {record.pubstatus}")
    if (
        record.headline_slug
        and _CORRECT.search(record.headline_slug)
        and record.headline_slug != previous.headline_slug
    ):
        why.append(f"headline slug {record.headline_slug.strip(' -')}")
    if record.ednote and _CORRECT.search(record.ednote) and record.ednote != previous.ednote:
        why.append(f"ednote: {record.ednote}")
    seen = set(previous.notes)
    why.extend(f"note: {note}" for note in notes_of(record) if note not in seen and _CORRECT.search(note))
    return why


def _same_entity(a: SnapshotEntity | Entity, b: SnapshotEntity | Entity) -> bool:
    """Two ids for one thing: the canonical name grew or shrank ("Biden", "Joe Biden") under the same label,
    or it is the same name, perhaps spelt right ("Sonoira", "Sonora"), whatever label the model gave it
    ("Lac" a PRODUCT, then a PERSON). "Manila" the city is not "Manila Stock Exchange"."""
    return same_name(a.name, b.name, exact=a.label != b.label)


def _entity_changes(
    previous: StorySnapshot, record: EnrichedArticle, text: TextDiff, headline_changed: bool
) -> tuple[list[EntityChange], list[EntityChange]]:
    """Entities mentioned by only one version, counted only where the text changed: an entity named in
    paragraphs both versions share is no change even when the model labels it differently there."""
    new_paragraphs = {p.index for p in text.added} | {
        e.new_index + k for e in text.edited for k in range(e.new_count)
    }
    old_paragraphs = {p.index for p in text.removed} | {
        e.old_index + k for e in text.edited for k in range(e.old_count)
    }
    old_ids = {e.id for e in previous.entities}
    new_ids = {e.id for e in record.entities}
    starts = [p.start for p in record.paragraphs]

    def paragraphs_of(entity: Entity) -> set[int]:
        return {max(0, bisect.bisect_right(starts, m.start) - 1) for m in entity.mentions if m.part == "body"}

    added = [
        EntityChange(id=e.id, name=e.name, label=e.label)
        for e in record.entities
        if e.id not in old_ids
        and not any(_same_entity(e, o) for o in previous.entities)
        and (paragraphs_of(e) & new_paragraphs or (headline_changed and e.in_headline))
    ]
    removed = [
        EntityChange(id=o.id, name=o.name, label=o.label)
        for o in previous.entities
        if o.id not in new_ids
        and not any(_same_entity(o, e) for e in record.entities)
        and (set(o.paragraphs) & old_paragraphs or (headline_changed and o.in_headline))
    ]
    return added, removed


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def summarise(changes: Changes) -> str:
    """One line a person can read: "+2 paragraphs, 1 quote removed, death toll 12 -> 15"."""
    parts = []
    if changes.correction:
        parts.append("correction")
    if changes.headline is not None:
        parts.append("headline changed")
    if changes.paragraphs_added:
        parts.append("+" + _plural(len(changes.paragraphs_added), "paragraph"))
    if changes.paragraphs_removed:
        parts.append("-" + _plural(len(changes.paragraphs_removed), "paragraph"))
    if changes.paragraphs_edited:
        parts.append(_plural(len(changes.paragraphs_edited), "paragraph") + " edited")
    for n in changes.numbers[:_MAX_NUMBERS]:
        parts.append(" ".join(x for x in (n.before, n.old, "->", n.new, n.after) if x))
    if len(changes.numbers) > _MAX_NUMBERS:
        parts.append(f"{len(changes.numbers) - _MAX_NUMBERS} more numbers changed")
    if changes.quotes_added:
        parts.append(_plural(len(changes.quotes_added), "quote") + " added")
    if changes.quotes_removed:
        parts.append(_plural(len(changes.quotes_removed), "quote") + " removed")
    if len(changes.quotes_reattributed) == 1:
        moved = changes.quotes_reattributed[0]
        parts.append(f"quote re-attributed from {moved.old_speaker} to {moved.new_speaker}")
    elif changes.quotes_reattributed:
        parts.append(f"{len(changes.quotes_reattributed)} quotes re-attributed")
    for sign, entities in (("+", changes.entities_added), ("-", changes.entities_removed)):
        if entities:
            names = f" ({', '.join(e.name for e in entities)})" if len(entities) <= _MAX_NAMES else ""
            parts.append(sign + _plural(len(entities), "entity", "entities") + names)
    return ", ".join(parts) if parts else "no change to the text"
