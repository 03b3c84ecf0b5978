"""Entity keys: the alias table, and the normalised key and display name of one mention's text.

"President Biden's" and "Biden" have one key (titles, possessives, periods and case aside); "U.S." maps to
its canonical "United States" through ``pipeline/data/entity_aliases.toml``.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

#: Words a name does not start with ("the United Nations" is "United Nations").
LEADING_WORDS = frozenset({"the"})

_ALIASES_RESOURCE = "entity_aliases.toml"


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


def _normalise(text: str) -> tuple[str, ...]:
    """Lower-case word tuple with periods, accents and a leading "the" gone ("The U.S." -> ("us",))."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold().replace(".", "")
    words = tuple(text.split())
    if len(words) > 1 and words[0] in LEADING_WORDS:
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


def describe(text: str, label: str, table: AliasTable) -> tuple[str, tuple[str, ...], str, str | None]:
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
    new_label, key, surface, alias = describe(text, label, table)
    return new_label, " ".join(key), alias or surface


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "x"
