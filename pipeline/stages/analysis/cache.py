"""The model's attribute ruler and lemmatizer, answered from caches: the same output, a fraction of the cost.

spaCy's ``attribute_ruler`` runs a ``Matcher`` of ~180 patterns over every token and its ``lemmatizer``
visits every token in Python: together a fifth of the full pipeline's time on wire text, for results that
depend on a handful of a token's own attributes. Both wrappers keep the model's component as the only
source of truth and ask it once per distinct input:

- a single-token rule reads only the token's lower-case form, tag, dependency label (and whether it is
  space, which the form decides), so its outcome is cached under those; the few multi-token rules
  ("there is", "gon na") are found with a small ``Matcher`` and the real ruler is run over just the
  tokens they cover;
- the rule lemmatizer's result depends on the token's text, part of speech and morphology (its own cache
  key), so it is cached under those and written with one array call per ``Doc``.

Tests compare both with the real components token by token.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from spacy.attrs import DEP, LEMMA, LOWER, MORPH, ORTH, POS, TAG
from spacy.matcher import Matcher
from spacy.pipeline import AttributeRuler, Lemmatizer
from spacy.tokens import Doc, Span, Token
from spacy.vocab import Vocab
from thinc.types import Ints2d

# What the ruler reads (beyond the form) and what it may write.
_RULER_WRITES = [TAG, POS, MORPH, LEMMA, DEP]
# What a single-token rule may read for ``_singles`` to judge many tokens in one Doc: nothing of a neighbour
_CONTEXT_FREE_KEYS = frozenset({"LOWER", "TAG", "DEP", "IS_SPACE"})
_Key = tuple[int, int, int]  # lower form, tag, dependency label
#: Entries a cache keeps before it starts afresh: a long-running worker meets new words for ever, and a
#: refilled cache costs a few seconds of the real components (wire text repeats its words).
MAX_ENTRIES = 100_000


def remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """``cache[key] = value``, emptying the cache first when it is full."""
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
    cache[key] = value


class CachedAttributeRuler:
    """``attribute_ruler`` with single-token rules from a cache keyed by (lower form, tag, dependency)."""

    def __init__(self, ruler: AttributeRuler, vocab: Vocab) -> None:
        self.ruler = ruler
        self.vocab = vocab
        # the multi-token rules, and their first tokens alone: a Doc with no token that could start one
        # needs no multi-token matching (the Matcher costs per token, most of it in its regex predicates)
        self.spans = Matcher(vocab)
        self.openers = Matcher(vocab)
        self.longest = 1
        for index, rule in enumerate(ruler.patterns):
            patterns = cast(list[list[dict[str, Any]]], rule["patterns"])
            longer = [p for p in patterns if len(p) > 1]
            if longer:
                self.spans.add(str(index), longer)
                self.openers.add(str(index), [p[:1] for p in longer])
                self.longest = max(self.longest, *(len(p) for p in longer))
        self._cache: dict[_Key, tuple[list[int], bool]] = {}
        self._context_free = all(
            set(token) <= _CONTEXT_FREE_KEYS
            for rule in ruler.patterns
            for pattern in cast(list[list[dict[str, Any]]], rule["patterns"])
            for token in pattern
        )

    def __call__(self, doc: Doc) -> Doc:
        cache = self._cache
        keys: list[_Key] = list(map(tuple, doc.to_array([LOWER, TAG, DEP]).tolist()))
        # this Doc's outcomes, read before learning: the cache may start afresh while it learns
        outcome = {key: cache[key] for key in dict.fromkeys(keys) if key in cache}
        new = [key for key in dict.fromkeys(keys) if key not in outcome]
        for group in [new] if self._context_free else [[key] for key in new]:
            outcome |= self._singles(group)
        found = [outcome[key] for key in keys]
        rows = [row for row, _ in found]
        windows = _groups([(i, i + self.longest) for i, (_, opens) in enumerate(found) if opens])
        matches = [
            (start + a, end + a)
            for a, b in windows
            for _, start, end in self.spans(doc[a : min(b, len(doc))], as_spans=False, allow_missing=True)
        ]
        for start, end in _groups(matches):
            rows[start:end] = self._ruled(doc[start:end])
        doc.from_array(_RULER_WRITES, cast(Ints2d, np.asarray(rows, dtype=np.uint64)))
        return doc

    def _singles(self, keys: list[_Key]) -> dict[_Key, tuple[list[int], bool]]:
        """The ruler's outcome for each key's token on its own, and whether it could open a multi-token rule.

        One ``Doc`` holds a token per key, and only the matches one token long are applied: where the
        patterns read nothing but these attributes and have no operators (``_context_free``; the model's
        do), such a match depends on its token alone, and no longer pattern can match one token. The
        Matcher costs more per call than per token, and a fresh worker meets ~23 new keys per article.
        """
        mini = Doc(self.vocab, words=[self.vocab.strings[lower] for lower, _, _ in keys])
        for token, (_, tag, dep) in zip(mini, keys, strict=True):
            token.tag = tag
            token.dep = dep
        opens = {start for _, start, _ in self.openers(mini, allow_missing=True)}
        matches = [m for m in self.ruler.match(mini) if m[3] - m[2] == 1]
        self.ruler.set_annotations(mini, matches)  # type: ignore[no-untyped-call]  # spaCy's is untyped
        rows: list[list[int]] = mini.to_array(_RULER_WRITES).tolist()
        learnt = {key: (row, i in opens) for i, (key, row) in enumerate(zip(keys, rows, strict=True))}
        for key, value in learnt.items():
            remember(self._cache, key, value)
        return learnt

    def _ruled(self, span: Span) -> list[list[int]]:
        """The real ruler's outcome for the tokens of ``span``, run over them as a ``Doc`` of their own."""
        mini = Doc(self.vocab, words=[t.text for t in span], spaces=[bool(t.whitespace_) for t in span])
        for source, target in zip(span, mini, strict=True):
            target.tag = source.tag
            target.dep = source.dep
        self.ruler(mini)
        rows: list[list[int]] = mini.to_array(_RULER_WRITES).tolist()
        return rows


def _groups(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping token ranges merged."""
    groups: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if groups and start < groups[-1][1]:
            groups[-1] = (groups[-1][0], max(end, groups[-1][1]))
        else:
            groups.append((start, end))
    return groups


class CachedLemmatizer:
    """The rule ``lemmatizer``, its results cached by (text, part of speech, morphology)."""

    def __init__(self, lemmatizer: Lemmatizer, vocab: Vocab) -> None:
        self.lemmatizer = lemmatizer
        self.vocab = vocab
        self._cache: dict[tuple[int, int, int], int] = {}
        # the component checks its tables on its first call; make that call here, on a token with a tag
        lemmatizer(Doc(vocab, words=["said"], pos=["VERB"]))

    def __call__(self, doc: Doc) -> Doc:
        cache = self._cache
        overwrite = bool(self.lemmatizer.overwrite)
        lemmas = [
            lemma if lemma and not overwrite else cache.get((orth, pos, morph)) or self._lemma(doc[i])
            for i, (orth, pos, morph, lemma) in enumerate(doc.to_array([ORTH, POS, MORPH, LEMMA]).tolist())
        ]
        doc.from_array([LEMMA], cast(Ints2d, np.asarray(lemmas, dtype=np.uint64)))
        return doc

    def _lemma(self, token: Token) -> int:
        """The lemmatizer's lemma of ``token`` (cached under the lemmatizer's own key)."""
        value = self.vocab.strings.add(self.lemmatizer.lemmatize(token)[0])
        remember(self._cache, (token.orth, token.pos, token.morph.key), value)  # type: ignore[attr-defined]
        return value
