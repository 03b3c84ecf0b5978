"""What became of each quote between two versions: added, unchanged, re-attributed, or gone.

Quotes are matched across versions by their words (case, quote marks and punctuation ignored): the same
words first, then the most similar remaining pair when at least ``SAME_QUOTE`` of the words agree (a quote
lightly edited is still the same quote). A matched quote whose speaker differs is re-attributed; a speaker
that is not identified (none, a pronoun, or a description without a name: "the company", "a spokesman") is no
evidence of a new speaker.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pipeline.stages.changes.snapshot import QuoteRetraction, SnapshotQuote, StorySnapshot, quote_key
from pipeline.stages.changes.text import same_name, similarity
from schemas.records import EnrichedArticle, QuoteChange, QuoteReattribution, QuoteStatus

#: Two quotes are the same quote when this share of their words agree (``SequenceMatcher.ratio``).
SAME_QUOTE = 0.8

_WORD = re.compile(r"\w+")
_PRONOUNS = frozenset(
    ["he", "she", "they", "it", "we", "i", "you", "him", "her", "them", "his", "hers", "their", "who"]
)


class QuoteFates(NamedTuple):
    """Per quote of the new version its status, and the indexes of the previous version's quotes that are
    gone from the story."""

    current: list[QuoteStatus]
    retracted: list[int]


@dataclass(frozen=True)
class QuoteMatch:
    """The quotes of two versions paired: ``pairs`` maps a new index to the previous index it continues."""

    pairs: dict[int, int]
    reattributed: frozenset[int]  # new indexes whose speaker changed

    def fates(self, previous_count: int, current_count: int) -> QuoteFates:
        matched = set(self.pairs.values())
        current: list[QuoteStatus] = [
            ("reattributed" if j in self.reattributed else "unchanged") if j in self.pairs else "added"
            for j in range(current_count)
        ]
        return QuoteFates(current, [i for i in range(previous_count) if i not in matched])


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


_NAME = re.compile(r"\b[A-Z][\w'’.-]*")
_ARTICLES = frozenset(["The", "A", "An", "This", "That", "These", "Those"])


def _known(speaker: str | None, entity_id: str | None) -> bool:
    """An identified speaker: linked to an entity, or named (a capitalised word that is no pronoun)."""
    if entity_id:
        return True
    return any(w not in _ARTICLES and w.casefold() not in _PRONOUNS for w in _NAME.findall(speaker or ""))


def _same_speaker(old: SnapshotQuote, new: SnapshotQuote) -> bool:
    """True unless both speakers are identified and differ (by key, and by name: "Biden" is "Joe Biden")."""
    if old.speaker_key == new.speaker_key:
        return True
    if not _known(old.speaker, old.speaker_entity_id) or not _known(new.speaker, new.speaker_entity_id):
        return True
    return same_name(old.speaker or "", new.speaker or "")


def current_quotes(record: EnrichedArticle) -> list[SnapshotQuote]:
    """The record's quotes as a snapshot keeps them (with the keys they are published under)."""
    return [
        SnapshotQuote(
            text=q.text,
            speaker=q.speaker,
            speaker_key=quote_key(q, record.id),
            speaker_entity_id=q.speaker_entity_id,
            kind=q.kind,
            paragraph=q.paragraph,
        )
        for q in record.quotes
    ]


def match_quotes(previous: Sequence[SnapshotQuote], current: Sequence[SnapshotQuote]) -> QuoteMatch:
    """Pair each new quote with the previous quote it continues, one to one."""
    old_words = [_words(q.text) for q in previous]
    new_words = [_words(q.text) for q in current]
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    for j, words in enumerate(new_words):  # the same words, first come first paired
        i = next((i for i, w in enumerate(old_words) if i not in taken and w == words), None)
        if i is not None:
            pairs[j] = i
            taken.add(i)
    candidates = sorted(
        (
            (similarity(old_words[i], new_words[j]), -j, -i)
            for j in range(len(current))
            if j not in pairs
            for i in range(len(previous))
            if i not in taken
        ),
        reverse=True,
    )
    for score, neg_j, neg_i in candidates:
        j, i = -neg_j, -neg_i
        if score < SAME_QUOTE:
            break
        if j not in pairs and i not in taken:
            pairs[j] = i
            taken.add(i)
    reattributed = frozenset(j for j, i in pairs.items() if not _same_speaker(previous[i], current[j]))
    return QuoteMatch(dict(sorted(pairs.items())), reattributed)


def quote_fates(previous: StorySnapshot | None, record: EnrichedArticle) -> QuoteFates:
    """Per quote of ``record``: "added", "unchanged" or "reattributed"; and the indexes of the previous
    version's quotes that are gone ("retracted"). Every quote is "added" when there is no previous version."""
    if previous is None:
        return QuoteFates(["added"] * len(record.quotes), [])
    return match_quotes(previous.quotes, current_quotes(record)).fates(
        len(previous.quotes), len(record.quotes)
    )


def quote_retractions(previous: StorySnapshot, record: EnrichedArticle) -> list[QuoteRetraction]:
    """The retractions to publish for the previous version's quotes, before the new version's quotes.

    A quote is identified on the quotes topic by ``(article_id, index)`` and keyed by its speaker. Previous
    quote ``i`` is retracted, under the key it went out under, unless the new version's quote ``i`` is the
    same quote under the same key (then the new record replaces it in place). The status says what became of
    it, so a consumer can tell a withdrawn quote from one that moved or changed speaker."""
    current = current_quotes(record)
    match = match_quotes(previous.quotes, current)
    continued = {i: j for j, i in match.pairs.items()}
    out = []
    for i, quote in enumerate(previous.quotes):
        j = continued.get(i)
        if j == i and current[j].speaker_key == quote.speaker_key:
            continue
        status: QuoteStatus = (
            "retracted" if j is None else "reattributed" if j in match.reattributed else "unchanged"
        )
        out.append(
            QuoteRetraction(version=previous.version, index=i, speaker_key=quote.speaker_key, status=status)
        )
    return out


def quote_withdrawals(previous: StorySnapshot) -> list[QuoteRetraction]:
    """The retractions to publish when a story is withdrawn or withheld: every quote of its last published
    version, "retracted", under the key it went out under."""
    return [
        QuoteRetraction(version=previous.version, index=i, speaker_key=q.speaker_key, status="retracted")
        for i, q in enumerate(previous.quotes)
    ]


def quote_changes(
    previous: Sequence[SnapshotQuote], current: Sequence[SnapshotQuote], match: QuoteMatch
) -> tuple[list[QuoteChange], list[QuoteChange], list[QuoteReattribution]]:
    """Quotes added, removed and re-attributed, for ``Changes``."""
    fates = match.fates(len(previous), len(current))
    added = [
        QuoteChange(index=j, text=q.text, speaker=q.speaker, speaker_key=q.speaker_key)
        for j, q in enumerate(current)
        if fates.current[j] == "added"
    ]
    removed = [
        QuoteChange(
            index=i, text=previous[i].text, speaker=previous[i].speaker, speaker_key=previous[i].speaker_key
        )
        for i in fates.retracted
    ]
    moved = [
        QuoteReattribution(
            old_index=match.pairs[j],
            new_index=j,
            text=current[j].text,
            old_speaker=previous[match.pairs[j]].speaker,
            new_speaker=current[j].speaker,
            old_speaker_key=previous[match.pairs[j]].speaker_key,
            new_speaker_key=current[j].speaker_key,
        )
        for j in sorted(match.reattributed)
    ]
    return added, removed, moved
