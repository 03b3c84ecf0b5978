"""Quote marks: which marks open, which close, and how they pair into quoted stretches.

Works on characters only (no parse), paragraph by paragraph, so an unbalanced mark can never run past
its paragraph: a quote continues into the next paragraph only when that paragraph opens with a mark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from schemas.records import Paragraph

_DOUBLE_OPEN = frozenset("“„‟«")
_DOUBLE_CLOSE = frozenset("”»")
_SINGLE_OPEN = frozenset("‘‹")
_SINGLE_CLOSE = frozenset("’›")
# A mark right after one of these starts a quote ("(“yes”)", "—“no”").
_BEFORE_OPEN = frozenset("([{—–-/")
# A mark right before one of these ends a quote ("“yes,”", "“no”).").
_AFTER_CLOSE = frozenset(".,;:!?)]}—–-/…")


class Role(Enum):
    """What a mark can do, judged from the characters around it."""

    OPEN = "open"
    CLOSE = "close"
    EITHER = "either"  # a straight mark between spaces or between letters: depends on what is open
    WEAK_CLOSE = "weak_close"  # closes an open single quote, else an apostrophe (voters’)


@dataclass(frozen=True)
class Mark:
    """One quote mark: ``text[start:end]`` (two characters for ``''``)."""

    start: int
    end: int
    role: Role


@dataclass
class Stretch:
    """Quoted text found from marks: one content piece per paragraph, marks excluded."""

    paragraph: int
    open_mark: int | None  # where the opening mark starts; None when it is missing
    pieces: list[tuple[int, int]] = field(default_factory=list)
    last_paragraph: int = -1
    close_end: int | None = None  # where the closing mark ends; None when unclosed

    @property
    def start(self) -> int:
        """First character of the stretch, opening mark included."""
        return self.open_mark if self.open_mark is not None else self.pieces[0][0]

    @property
    def end(self) -> int:
        """End of the stretch, closing mark included."""
        return self.close_end if self.close_end is not None else self.pieces[-1][1]


def uses_single_marks(text: str) -> bool:
    """Whether the text quotes with single marks as the outer mark (it has no double marks at all)."""
    if any(c in text for c in '"“”„‟«»') or "''" in text or "``" in text:
        return False
    return any(c in text for c in "‘‹") or " '" in text


def _flanks(text: str, i: int, j: int, lo: int, hi: int) -> tuple[bool, bool]:
    """(space-like before, space-like after) for the mark ``text[i:j]`` inside ``[lo, hi)``."""
    before = text[i - 1] if i > lo else " "
    after = text[j] if j < hi else " "
    left = before.isspace() or before in _BEFORE_OPEN or before in _DOUBLE_OPEN or before in _SINGLE_OPEN
    right = after.isspace() or after in _AFTER_CLOSE or after in _DOUBLE_CLOSE or after in _SINGLE_CLOSE
    return left, right


def _by_context(left: bool, right: bool) -> Role:
    if left and not right:
        return Role.OPEN
    if right and not left:
        return Role.CLOSE
    return Role.EITHER


def find_marks(text: str, lo: int, hi: int, *, single: bool) -> list[Mark]:
    """The quote marks of ``text[lo:hi]`` with the role their surroundings allow."""
    marks: list[Mark] = []
    i = lo
    while i < hi:
        c = text[i]
        pair = text[i : i + 2]
        if i > lo and text[i - 1] == "=":
            i += 1
            continue  # a markup attribute (author="..."), not a quote
        if pair in ("''", "``") and not single:
            left, right = _flanks(text, i, i + 2, lo, hi)
            role = Role.OPEN if pair == "``" else _by_context(left, right)
            marks.append(Mark(i, i + 2, role))
            i += 2
            continue
        if not single and (c in _DOUBLE_OPEN or c in _DOUBLE_CLOSE or c == '"'):
            left, right = _flanks(text, i, i + 1, lo, hi)
            context = _by_context(left, right)
            if c == '"':
                role = context
            elif c in _DOUBLE_OPEN:
                # a typed opening mark is trusted unless it plainly sits after a word and before a space
                role = Role.CLOSE if context is Role.CLOSE else Role.OPEN
            else:
                role = Role.OPEN if context is Role.OPEN else Role.CLOSE
            marks.append(Mark(i, i + 1, role))
        elif single and (c in _SINGLE_OPEN or c in _SINGLE_CLOSE or c == "'"):
            left, right = _flanks(text, i, i + 1, lo, hi)
            before = text[i - 1] if i > lo else " "
            after = text[i + 1] if i + 1 < hi else " "
            if before.isalnum() and after.isalnum():
                pass  # an apostrophe inside a word (don’t)
            elif c in _SINGLE_OPEN or (left and not right):
                if not after.isdigit():  # ’90s
                    marks.append(Mark(i, i + 1, Role.OPEN))
            elif right:
                marks.append(Mark(i, i + 1, Role.WEAK_CLOSE))
        i += 1
    return marks


def pair_marks(text: str, paragraphs: list[Paragraph]) -> list[Stretch]:
    """Pair the marks of every paragraph into stretches, in text order.

    A closing mark with nothing open makes a stretch from the paragraph start (or the last closing
    mark) with ``open_mark`` None; an opening mark never closed ends with its paragraph unless the
    next paragraph opens with a mark, the newswire way of continuing a quote.
    """
    single = uses_single_marks(text)
    stretches: list[Stretch] = []
    pending: Stretch | None = None
    piece_start = 0
    for index, para in enumerate(paragraphs):
        lo, hi = max(0, para.start), min(len(text), para.end)
        if lo >= hi:
            continue
        marks = find_marks(text, lo, hi, single=single)
        orphan_from = lo
        if pending is not None:
            first = marks[0] if marks else None
            opens = first is not None and first.role in (Role.OPEN, Role.EITHER)
            if first is not None and opens and not text[lo : first.start].strip():
                pending.last_paragraph = index
                piece_start = first.end
                marks = marks[1:]
            else:
                stretches.append(pending)
                pending = None
        for mark in marks:
            if pending is not None:
                if mark.role is Role.OPEN:
                    # an opening mark while one is open: the earlier one was never closed
                    if len(pending.pieces) > 0:
                        stretches.append(pending)
                    pending = Stretch(paragraph=index, open_mark=mark.start, last_paragraph=index)
                    piece_start = mark.end
                    continue
                pending.pieces.append((piece_start, mark.start))
                pending.close_end = mark.end
                stretches.append(pending)
                pending = None
                orphan_from = mark.end
            elif mark.role in (Role.OPEN, Role.EITHER):
                pending = Stretch(paragraph=index, open_mark=mark.start, last_paragraph=index)
                piece_start = mark.end
            elif mark.role is Role.CLOSE:
                stretches.append(
                    Stretch(
                        paragraph=index,
                        open_mark=None,
                        pieces=[(orphan_from, mark.start)],
                        last_paragraph=index,
                        close_end=mark.end,
                    )
                )
                orphan_from = mark.end
        if pending is not None:
            pending.pieces.append((piece_start, hi))
    if pending is not None:
        stretches.append(pending)
    return [s for s in (_trimmed(text, s) for s in stretches) if s is not None]


def _trimmed(text: str, stretch: Stretch) -> Stretch | None:
    """Trim whitespace off each piece; drop empty pieces, and the stretch when no word is left."""
    pieces = []
    for piece_start, piece_end in stretch.pieces:
        start, end = piece_start, piece_end
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            pieces.append((start, end))
    if not any(any(ch.isalnum() for ch in text[s:e]) for s, e in pieces):
        return None
    stretch.pieces = pieces
    return stretch
