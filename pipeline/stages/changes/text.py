"""Paragraph and word differences between two versions of a story's text, and the numbers an edit changed.

Built on ``difflib.SequenceMatcher`` (standard library): paragraphs are matched first as whole units; what is
left between matched paragraphs (a *block*) is aligned word by word, so a paragraph that was rewritten is
called an *edit* of the paragraph it replaces rather than a removal and an addition, and paragraphs an editor
split or merged without changing their words are no change at all. Hand-written here: the tokeniser (words,
numbers as written, punctuation), the grouping of a block's paragraphs by the words they share, and the
context words of a changed number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from schemas.records import NumberChange, ParagraphChange, ParagraphEdit, WordChange

#: Share of words two texts must have in common (``SequenceMatcher.ratio`` over word tokens) for the new
#: text to be called an edit of the old one; below it, the old paragraph was removed and the new one added.
#: Chosen on the labelled version pairs (tests/data/versions/README.md): labelled edits measure 0.6 and up,
#: unrelated paragraphs of the same story below 0.3.
EDIT_SIMILARITY = 0.5
# A paragraph joins a group of the block when at least this share of its words is matched in the group's
# other side (a few shared function words do not make two paragraphs one).
_MEMBER_SHARE = 0.3

# Words (with inner apostrophes, dots, commas, slashes and hyphens: "U.S", "1,200", "3.5", "1987/88"), a
# trailing per cent sign, or one punctuation character.
_TOKEN = re.compile(r"\w+(?:['’.,/:-]\w+)*%?|[^\w\s]")
_NUMBER = re.compile(r"^(?:\d[\d,]*(?:\.\d+)?%?|\d+(?:[./:-]\d+)+)$")
_WRITTEN = frozenset(
    [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "sixty",
        "seventy",
        "eighty",
        "ninety",
        "hundred",
    ]
)
_SENTENCE_END = frozenset(".!?;:")
# A time of day as wires write it: "9:40 A.M.", "0940 hrs", "1000 EDT", "10 a.m."
_CLOCK_UNITS = frozenset(["a.m", "p.m", "am", "pm", "hrs", "gmt", "edt", "est", "bst", "cet", "utc"])
_UNIT = re.compile(r"[a-z.]+")
_CLOCK = re.compile(r"^(\d{1,2})(?::?(\d{2}))?$")
# Typographic variants that are no edit: curly and straight quotes, dashes.
_FOLD = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "″": '"', "‘": "'", "’": "'", "‚": "'", "–": "-", "—": "-"}
)


@dataclass(frozen=True)
class Token:
    """A word, number or punctuation mark of a text, with its place in the text."""

    text: str
    start: int
    end: int

    @property
    def key(self) -> str:
        """What is compared: the text with typographic variants folded."""
        return self.text.translate(_FOLD).casefold()


def tokens(text: str) -> list[Token]:
    """The tokens of ``text``, in order."""
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def is_number(token: str) -> bool:
    """A number as written: digits ("1,200", "3.5", "12%", "19-13") or a number word ("twelve")."""
    return bool(_NUMBER.match(token)) or token.lower() in _WRITTEN


def _is_word(token: str) -> bool:
    return token[:1].isalnum()


def paragraph_key(text: str) -> str:
    """What two paragraphs are first compared by (equal or not): the text with typographic variants and
    letter case folded and spacing collapsed. Cheap, so only paragraphs that differ are tokenised."""
    return " ".join(text.translate(_FOLD).casefold().split())


#: Two names are one when one's words are among the other's ("Biden", "Joe Biden"), a word allowed to differ
#: by a typo ("Paul Boatang", "Paul Boateng"): a name spelt right is no new entity or speaker.
SAME_WORD = 0.85
_NAME_WORD = re.compile(r"\w+")


def _same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    return min(len(a), len(b)) >= 4 and SequenceMatcher(None, a, b, autojunk=False).ratio() >= SAME_WORD


def same_name(a: str, b: str, *, exact: bool = False) -> bool:
    """True when two names name the same thing: every word of the shorter one is a word of the other (with
    ``exact``, the two have the same words: a name spelt right, not a name that grew)."""
    x, y = _NAME_WORD.findall(a.casefold()), _NAME_WORD.findall(b.casefold())
    short, long_ = (x, y) if len(x) <= len(y) else (y, x)
    if not short or (exact and len(short) != len(long_)):
        return False
    return all(any(_same_word(w, v) for v in long_) for w in short)


def similarity(old: Sequence[str], new: Sequence[str]) -> float:
    """Share of tokens two token sequences have in common (``SequenceMatcher.ratio``)."""
    if not old and not new:
        return 1.0
    return SequenceMatcher(None, list(old), list(new), autojunk=False).ratio()


@dataclass
class TextDiff:
    """The paragraph-level differences between two versions (indexes into each version's paragraphs)."""

    added: list[ParagraphChange] = field(default_factory=list)
    removed: list[ParagraphChange] = field(default_factory=list)
    edited: list[ParagraphEdit] = field(default_factory=list)
    numbers: list[NumberChange] = field(default_factory=list)


def diff_paragraphs(
    old: Sequence[str], new: Sequence[str], *, threshold: float = EDIT_SIMILARITY
) -> TextDiff:
    """Paragraphs added, removed and edited from ``old`` to ``new``, and the numbers the edits changed."""
    out = TextDiff()
    old_keys = [paragraph_key(p) for p in old]
    new_keys = [paragraph_key(p) for p in new]
    matcher = SequenceMatcher(None, old_keys, new_keys, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            _diff_block(old, new, range(i1, i2), range(j1, j2), threshold, out)
    _drop_moves(out)
    return out


def _drop_moves(out: TextDiff) -> None:
    """A paragraph removed in one place and added unchanged in another was moved: no change of content."""
    removed: dict[str, list[ParagraphChange]] = {}
    for p in out.removed:
        removed.setdefault(paragraph_key(p.text), []).append(p)
    moved_out: set[int] = set()
    kept_added = []
    for p in out.added:
        twins = removed.get(paragraph_key(p.text))
        if twins:
            moved_out.add(twins.pop(0).index)
        else:
            kept_added.append(p)
    out.added = kept_added
    out.removed = [p for p in out.removed if p.index not in moved_out]


def _diff_block(  # noqa: PLR0917 - a private helper of diff_paragraphs, called once
    old: Sequence[str], new: Sequence[str], olds: range, news: range, threshold: float, out: TextDiff
) -> None:
    """Align the paragraphs of one unmatched block word by word: groups of paragraphs that share their words
    are edits (one to one, or split and merged), the rest were removed or added."""
    old_tokens = [tokens(old[i]) for i in olds]
    new_tokens = [tokens(new[j]) for j in news]
    grouped_old: set[int] = set()
    grouped_new: set[int] = set()
    if olds and news:
        for group_old, group_new in _groups(old_tokens, new_tokens):
            edit = _edit(
                [old[olds[i]] for i in group_old],
                [new[news[j]] for j in group_new],
                olds[group_old[0]],
                news[group_new[0]],
                threshold,
            )
            if edit is None:
                continue
            grouped_old.update(group_old)
            grouped_new.update(group_new)
            if edit[0] is not None:
                out.edited.append(edit[0])
                out.numbers.extend(edit[1])
    out.removed.extend(
        ParagraphChange(index=i, text=old[i]) for n, i in enumerate(olds) if n not in grouped_old
    )
    out.added.extend(
        ParagraphChange(index=j, text=new[j]) for n, j in enumerate(news) if n not in grouped_new
    )


def _groups(old: list[list[Token]], new: list[list[Token]]) -> list[tuple[list[int], list[int]]]:
    """Runs of consecutive old and new paragraphs joined by the words they share, in order.

    One word-level alignment over the whole block: an old paragraph and a new one are linked when enough of
    either's words are matched to the other; linked paragraphs (through any chain) form one group."""
    old_of = [n for n, toks in enumerate(old) for _ in toks]
    new_of = [n for n, toks in enumerate(new) for _ in toks]
    matcher = SequenceMatcher(
        None, [t.key for toks in old for t in toks], [t.key for toks in new for t in toks], autojunk=False
    )
    shared: dict[tuple[int, int], int] = {}
    for a, b, size in matcher.get_matching_blocks():
        for k in range(size):
            pair = (old_of[a + k], new_of[b + k])
            shared[pair] = shared.get(pair, 0) + 1
    links = [
        pair
        for pair, count in shared.items()
        if count >= _MEMBER_SHARE * min(len(old[pair[0]]), len(new[pair[1]]))
    ]
    # Union the linked paragraphs; the alignment is monotone, so every group is two runs of consecutive
    # paragraphs and groups come out in text order.
    groups: list[tuple[list[int], list[int]]] = []
    for i, j in sorted(links):
        if groups and (i in groups[-1][0] or j in groups[-1][1]):
            if i not in groups[-1][0]:
                groups[-1][0].append(i)
            if j not in groups[-1][1]:
                groups[-1][1].append(j)
        else:
            groups.append(([i], [j]))
    return groups


def _edit(
    old: list[str], new: list[str], old_index: int, new_index: int, threshold: float
) -> tuple[ParagraphEdit | None, list[NumberChange]] | None:
    """The edit from ``old`` paragraphs to ``new`` ones (None in the first place when only the paragraph
    breaks moved), or None when they are too different to be one edit."""
    old_text, new_text = " ".join(old), " ".join(new)
    old_toks, new_toks = tokens(old_text), tokens(new_text)
    matcher = SequenceMatcher(None, [t.key for t in old_toks], [t.key for t in new_toks], autojunk=False)
    ratio = matcher.ratio()
    if ratio < threshold:
        return None
    words: list[WordChange] = []
    numbers: list[NumberChange] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        words.append(
            WordChange(op=tag, old=_slice(old_text, old_toks[i1:i2]), new=_slice(new_text, new_toks[j1:j2]))
        )
        if tag == "replace":
            paragraph = new_index + _paragraph_of(new, new_toks[j1].start)
            numbers.extend(_numbers(old_toks[i1:i2], new_toks, j1, j2, paragraph))
    if not words:
        return None, []  # the same words: paragraphs were only split or merged
    edit = ParagraphEdit(
        old_index=old_index,
        new_index=new_index,
        old_count=len(old),
        new_count=len(new),
        similarity=round(ratio, 3),
        words=words,
    )
    return edit, numbers


def _slice(text: str, toks: Sequence[Token]) -> str:
    return text[toks[0].start : toks[-1].end] if toks else ""


def _paragraph_of(paragraphs: list[str], offset: int) -> int:
    """Which of ``paragraphs`` (joined by one space) holds character ``offset``."""
    end = 0
    for n, para in enumerate(paragraphs):
        end += len(para) + 1
        if offset < end:
            return n
    return len(paragraphs) - 1


def _numbers(
    old: Sequence[Token], new: Sequence[Token], j1: int, j2: int, paragraph: int
) -> list[NumberChange]:
    """Numbers a replaced run of words changed, paired in order ("12 dead, 40 hurt" -> "15 dead, 41 hurt")."""
    old_numbers = [t.text for t in old if is_number(t.text)]
    new_numbers = [t for t in new[j1:j2] if is_number(t.text)]
    if not old_numbers or len(old_numbers) != len(new_numbers):
        return []
    old_clocks = [_clock(old, n) for n, t in enumerate(old) if is_number(t.text)]
    out = []
    for (was, was_clock), now in zip(zip(old_numbers, old_clocks, strict=True), new_numbers, strict=True):
        at = new.index(now)
        if was.translate(_FOLD).casefold() == now.key or (
            was_clock is not None and was_clock == _clock(new, at)
        ):
            continue
        out.append(
            NumberChange(
                old=was, new=now.text, before=_before(new, at), after=_after(new, at), paragraph=paragraph
            )
        )
    return out


def _clock(toks: Sequence[Token], at: int) -> int | None:
    """Minutes after midnight when token ``at`` is a time of day (a unit follows it), else None."""
    following = _UNIT.match(toks[at + 1].key) if at + 1 < len(toks) else None
    unit = following.group().rstrip(".") if following else ""
    found = _CLOCK.match(toks[at].text)
    if unit not in _CLOCK_UNITS or not found:
        return None
    hours, minutes = int(found.group(1)), int(found.group(2) or 0)
    if len(toks[at].text) == 4 and found.group(2) is None:  # "0940": hours and minutes without a colon
        hours, minutes = divmod(int(toks[at].text), 100)
    if unit in ("p.m", "pm") and hours < 12:
        hours += 12
    return hours * 60 + minutes if hours < 24 and minutes < 60 else None


def _before(toks: Sequence[Token], at: int, words: int = 2) -> str:
    """Up to ``words`` words just before token ``at``, within its sentence."""
    picked: list[str] = []
    for t in reversed(toks[:at]):
        if t.text in _SENTENCE_END or len(picked) == words:
            break
        if _is_word(t.text):
            picked.append(t.text)
    return " ".join(reversed(picked))


def _after(toks: Sequence[Token], at: int) -> str:
    """The word just after token ``at`` when it is a word and no number (a unit: 'pct', 'people')."""
    if at + 1 < len(toks) and _is_word(toks[at + 1].text) and not is_number(toks[at + 1].text):
        return toks[at + 1].text
    return ""
