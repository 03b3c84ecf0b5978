"""Grouping entity mentions into canonical entities, over every part of an article.

``extract_entities`` turns the entity spans of a body's ``Doc`` (and of the headline's, when the headline
had its own NER pass) into ``Entity`` records: "Joe Biden", "Biden" and "President Biden" are one
``PERSON:joe-biden``; "US", "U.S." and "United States" are one ``GPE:united-states``. Parts no model
reads are covered by what they are: a dateline's place is a place, a byline's names are people, and a
headline in capitals (where NER is unreliable) is searched for the names the article uses. Each mention
says which part its offsets point into.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from spacy.tokens import Doc

from pipeline.stages.entities.keys import AliasTable, describe, load_aliases, slug
from schemas.records import Dateline, Entity, Mention, MentionPart

#: Labels that name amounts and times, not things: nothing to group, so they are not entities here.
NUMERIC_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})
#: A letter of any script.
ALPHA = re.compile(r"[^\W\d_]")

_SURNAME_CONFUSABLE = frozenset({"ORG", "NORP", "PRODUCT", "WORK_OF_ART", "EVENT", "FAC"})
#: Article order of the parts: mentions and entities are sorted by it, then by offset.
PART_ORDER: dict[str, int] = {"headline": 0, "dateline": 1, "byline": 2, "body": 3}
_BYLINE_SEPARATORS = re.compile(r"\s*(?:,|;|\||&|\band\b|\bwith\b)\s*", re.IGNORECASE)
_BYLINE_BY = re.compile(r"^\s*by\s+", re.IGNORECASE)
_NAME_WORD = re.compile(r"^[A-Z][\w'’\-]*\.?$|^(?:de|da|van|von|al|bin|la|le|der|den)$")


# --- grouping ---------------------------------------------------------------------------------------


class _Found(NamedTuple):
    """One entity span as found: which part, where, its text and the model's (or the rule's) label."""

    part: str
    start: int
    end: int
    text: str
    label: str

    @property
    def order(self) -> tuple[int, int]:
        return PART_ORDER[self.part], self.start


@dataclass
class _Group:
    label: str
    key: tuple[str, ...]
    alias: str | None
    mentions: list[tuple[_Found, str]] = field(default_factory=list)  # the span, its display name

    @property
    def first(self) -> tuple[int, int]:
        return min(found.order for found, _ in self.mentions)


def _is_subname(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    """A shorter person name that points at a longer one: surname, first name, or a subset in order."""
    if len(short) >= len(long):
        return False
    if len(short) == 1 and short[0] == long[0]:
        return True
    if short[-1] != long[-1]:
        return False
    it = iter(long)
    return all(word in it for word in short)


def _initials(words: Sequence[str], stopwords: frozenset[str]) -> str:
    return "".join(w[0] for w in words if w not in stopwords and w[:1].isalnum())


def _points_at(small: _Group, big: _Group, table: AliasTable) -> bool:
    """Whether ``small``'s name is a short form of ``big``'s, so their mentions are one entity."""
    if big.alias is not None and small.alias is not None:
        return False
    if small.label == "PERSON" and big.label == "PERSON":
        return _is_subname(small.key, big.key)
    if big.label == "PERSON":
        # The model often calls a lone surname an ORG ("Xuto said"); places named after people are
        # common enough ("Washington") that place labels are left alone.
        return small.label in _SURNAME_CONFUSABLE and len(small.key) == 1 and small.key[0] == big.key[-1]
    if small.label == "PERSON":
        return False
    surface = small.mentions[0][0].text.replace(".", "")
    if len(small.key) == 1 and len(big.key) >= 2 and surface.isupper() and len(surface) >= 2:
        return small.key[0] == _initials(big.key, table.acronym_stopwords)
    if small.label == big.label == "ORG" and len(small.key) < len(big.key):
        # A short company name refers back to the full one ("Riggs Bank ... Riggs"); before it, the
        # short form is more likely another body ("the Treasury" vs "Treasury Select Committee").
        return big.key[: len(small.key)] == small.key and small.first > big.first
    return False


def _group(mentions: Sequence[_Found], table: AliasTable) -> list[_Group]:
    described = [(m, describe(m.text, m.label, table)) for m in mentions]
    # The model labels one name differently across sentences; the article's majority label wins.
    votes: dict[tuple[str, ...], Counter[str]] = {}
    for _, (label, key, _, _) in described:
        votes.setdefault(key, Counter())[label] += 1
    groups: dict[tuple[str, tuple[str, ...]], _Group] = {}
    for found, (_, key, surface, alias) in described:
        label = votes[key].most_common(1)[0][0]
        group = groups.setdefault((label, key), _Group(label, key, alias))
        group.mentions.append((found, surface))
    return list(groups.values())


def _merge(groups: list[_Group], table: AliasTable) -> list[_Group]:
    """Fold short forms into the one longer name they point at; leave them alone when ambiguous."""
    parent = list(range(len(groups)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    order = sorted(range(len(groups)), key=lambda i: (-len(groups[i].key), groups[i].first))
    for i in reversed(order):
        targets = {
            root(j)
            for j in order
            if j != i and len(groups[j].key) >= len(groups[i].key) and _points_at(groups[i], groups[j], table)
        }
        targets.discard(root(i))
        if len(targets) == 1:
            parent[root(i)] = targets.pop()
    merged: dict[int, _Group] = {}
    for i in sorted(range(len(groups)), key=lambda i: -len(groups[i].key)):
        r = root(i)
        if r not in merged:
            merged[r] = _Group(groups[r].label, groups[r].key, groups[r].alias)
        merged[r].mentions.extend(groups[i].mentions)
    return list(merged.values())


# --- parts ------------------------------------------------------------------------------------------


def _spans(doc: Doc, part: str) -> list[_Found]:
    return [
        _Found(part, ent.start_char, ent.end_char, ent.text, ent.label_)
        for ent in doc.ents
        if ent.label_ not in NUMERIC_LABELS and "\n" not in ent.text and ALPHA.search(ent.text)
    ]


def _dateline_places(dateline: Dateline | None) -> list[_Found]:
    """Each comma-separated piece of the dateline's place ("VENICE , Italy") is a place mention."""
    if dateline is None or not dateline.place:
        return []
    offset = dateline.text.find(dateline.place)
    if offset < 0:
        return []
    found = []
    for m in re.finditer(r"[^,]+", dateline.place):
        piece = m.group().strip()
        if piece and ALPHA.search(piece):
            start = offset + m.start() + m.group().index(piece)
            found.append(_Found("dateline", start, start + len(piece), piece, "GPE"))
    return found


def _byline_names(byline: str | None) -> list[_Found]:
    """The people a byline names: pieces of two to four capitalised words ("By Jane Doe and John Roe")."""
    if not byline:
        return []
    by = _BYLINE_BY.match(byline)
    offset = by.end() if by else 0
    found = []
    pos = offset
    for sep in [*_BYLINE_SEPARATORS.finditer(byline, offset), None]:
        end = sep.start() if sep is not None else len(byline)
        piece = byline[pos:end]
        words = piece.split()
        if 2 <= len(words) <= 4 and all(_NAME_WORD.match(w) for w in words) and words[0][0].isupper():
            start = pos + piece.index(words[0])
            text = (
                piece.strip().rstrip(".")
                if not words[-1].endswith(".") or len(words[-1]) > 2
                else piece.strip()
            )
            found.append(_Found("byline", start, start + len(text), text, "PERSON"))
        if sep is not None:
            pos = sep.end()
    return found


def _headline_pattern(forms: Iterable[str], headline: str) -> re.Pattern[str] | None:
    shouting = headline.isupper()
    parts = []
    for form in sorted({f for f in forms if f}, key=len, reverse=True):
        escaped = re.escape(form)
        # A short acronym ("US", "WHO") matched without case would find ordinary words ("us", "who").
        if form.replace(".", "").isupper() and len(form.replace(".", "")) <= 4 and not shouting:
            parts.append(f"(?-i:{escaped})")
        else:
            parts.append(escaped)
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def _headline_forms(groups: list[_Group], headline: str, table: AliasTable) -> None:
    """Add a headline mention to each group whose names (or known aliases) the headline uses, where the
    headline has no mention yet: whole words, without case except for short acronyms."""
    taken = [(f.start, f.end) for g in groups for f, _ in g.mentions if f.part == "headline"]
    for group in groups:
        forms = [d for _, d in group.mentions] + [f.text for f, _ in group.mentions if f.part != "headline"]
        if group.alias is not None:
            forms.extend(table.variants.get(group.alias, ()))
        pattern = _headline_pattern(forms, headline)
        if pattern is None:
            continue
        for m in pattern.finditer(headline):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            group.mentions.append((_Found("headline", m.start(), m.end(), m.group(), group.label), m.group()))


# --- records ----------------------------------------------------------------------------------------


def _name(group: _Group) -> str:
    """The longest display name, taken from the body when the body names the entity (a headline may be
    in capitals, a byline is a credit)."""
    by_part: dict[str, list[str]] = {}
    for found, display in sorted(group.mentions, key=lambda m: m[0].order):
        by_part.setdefault(found.part, []).append(display)
    displays = next(by_part[p] for p in ("body", "headline", "dateline", "byline") if p in by_part)
    return max(displays, key=lambda d: (len(d.split()), len(d)))


def extract_entities(
    doc: Doc,
    headline: str | None = None,
    *,
    aliases: AliasTable | None = None,
    headline_doc: Doc | None = None,
    dateline: Dateline | None = None,
    byline: str | None = None,
) -> list[Entity]:
    """Canonical entities of one article, sorted by first mention in article order.

    ``doc`` is the body's parse; ``headline_doc``, when given, the headline's (its entities become
    headline mentions). Names the article uses are also found in ``headline`` as whole words (without
    case except for short acronyms: wire headlines are often in capitals, where the model's NER is
    unreliable); the ``dateline``'s place and the ``byline``'s names are mentions too. Amount and time
    labels (``NUMERIC_LABELS``) are left out. ``in_headline`` is true when an entity has a headline
    mention.
    """
    table = aliases if aliases is not None else load_aliases()
    found = _spans(doc, "body") + _dateline_places(dateline) + _byline_names(byline)
    if headline_doc is not None and headline and headline_doc.text == headline:
        found += _spans(headline_doc, "headline")
    groups = _merge(_group(found, table), table)
    if headline:
        _headline_forms(groups, headline, table)
    groups.sort(key=lambda g: g.first)
    entities: list[Entity] = []
    used_ids: Counter[str] = Counter()
    for group in groups:
        group.mentions.sort(key=lambda m: m[0].order)
        name = _name(group)
        base_id = f"{group.label}:{slug(group.alias or name)}"
        used_ids[base_id] += 1
        entity_id = base_id if used_ids[base_id] == 1 else f"{base_id}-{used_ids[base_id]}"
        mentions = [
            Mention(start=f.start, end=f.end, text=f.text, part=_part(f.part)) for f, _ in group.mentions
        ]
        body = [m for m in mentions if m.part == "body"]
        entities.append(
            Entity(
                id=entity_id,
                name=name,
                label=group.label,
                mentions=mentions,
                count=len(mentions),
                first_start=(body or mentions)[0].start,
                in_headline=any(m.part == "headline" for m in mentions),
            )
        )
    return entities


def _part(name: str) -> MentionPart:
    if name == "headline":
        return "headline"
    if name == "dateline":
        return "dateline"
    if name == "byline":
        return "byline"
    return "body"


def body_entities(entities: Sequence[Entity]) -> list[Entity]:
    """The entities with body mentions, each keeping only those: what offsets into the body can use."""
    out = []
    for entity in entities:
        body = [m for m in entity.mentions if m.part == "body"]
        if len(body) == len(entity.mentions):
            out.append(entity)
        elif body:
            out.append(entity.model_copy(update={"mentions": body, "count": len(body)}))
    return out


def entity_for_span(
    entities: Sequence[Entity], start: int, end: int, *, labels: Iterable[str] | None = None
) -> Entity | None:
    """The entity with a body mention that overlaps ``[start, end)`` the most (first entity on a tie).

    A speaker span "President Joe Biden" finds the mention "Joe Biden", and "Biden" finds the mention
    "Joe Biden" it lies in. ``labels`` restricts the search (e.g. to ``{"PERSON", "ORG"}``).
    """
    wanted = set(labels) if labels is not None else None
    best: Entity | None = None
    best_overlap = 0
    for entity in entities:
        if wanted is not None and entity.label not in wanted:
            continue
        for mention in entity.mentions:
            if mention.part != "body":
                continue
            overlap = min(end, mention.end) - max(start, mention.start)
            if overlap > best_overlap:
                best, best_overlap = entity, overlap
    return best
