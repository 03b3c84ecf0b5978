"""The geometry of one body for the quote stage: ``Text`` (characters, paragraphs, quoted stretches,
token lookup and the frames around a stretch) and ``Found``, a quote before its speaker is resolved.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from spacy.tokens import Doc, Token

from pipeline.stages.quotes.marks import Stretch
from pipeline.stages.quotes.speakers import Speaker
from schemas.records import Paragraph, QuoteKind

TERMINATORS = frozenset({".", "!", "?"})
MAX_TRAILING_FRAME = 8  # "“...” Biden said." after a full stop: only a short frame is an attribution


@dataclass
class Found:
    """A quote before its speaker is resolved."""

    spans: list[tuple[int, int]]
    paragraph: int
    kind: QuoteKind
    position: int
    cue: Token | None = None
    verb: str | None = None
    subject: Token | None = None
    speaker: Speaker | None = None
    paragraph_end: int = -1


class Text:
    """Character and token geometry of one body: its text (``doc.text``, joined once: spaCy rebuilds
    it from every token on each access), paragraphs, quoted stretches, token lookup."""

    def __init__(self, doc: Doc, text: str, paragraphs: list[Paragraph], stretches: list[Stretch]) -> None:
        self.doc = doc
        self.text = text
        self.paragraphs = paragraphs
        self.starts = [t.idx for t in doc]
        self.stretches = stretches
        self.blocked: set[int] = set()
        for stretch in stretches:
            for start, end in stretch.pieces:
                self.blocked.update(range(*self.tokens_in(start, end)))

    def tokens_in(self, start: int, end: int) -> tuple[int, int]:
        """Token range ``[first, last)`` of tokens starting inside ``[start, end)``."""
        return bisect_left(self.starts, start), bisect_left(self.starts, end)

    def paragraph_of(self, char: int) -> int:
        for index, para in enumerate(self.paragraphs):
            if para.start <= char < para.end:
                return index
        return max(0, len(self.paragraphs) - 1)

    def after_frame(self, index: int) -> tuple[int, int]:
        """Tokens after stretch ``index`` up to the sentence end, the next quote or the paragraph end."""
        stretch = self.stretches[index]
        if stretch.close_end is None:
            return 0, 0
        para = self.paragraphs[stretch.last_paragraph]
        limit = para.end
        if index + 1 < len(self.stretches):
            limit = min(limit, self.stretches[index + 1].start)
        first, last = self.tokens_in(stretch.close_end, limit)
        for i in range(first, last):
            if self.doc[i].text in TERMINATORS:
                return first, i
        return first, last

    def before_frame(self, index: int) -> tuple[int, int]:
        """Tokens before stretch ``index`` back to the sentence start, the last quote or the paragraph."""
        stretch = self.stretches[index]
        if stretch.open_mark is None:
            return 0, 0
        limit = self.paragraphs[stretch.paragraph].start
        if index > 0:
            limit = max(limit, self.stretches[index - 1].end)
        first, last = self.tokens_in(limit, stretch.open_mark)
        for i in range(last - 1, first - 1, -1):
            if self.doc[i].text in TERMINATORS:
                return i + 1, last
        return first, last


def words_in(doc: Doc, first: int, last: int) -> list[Token]:
    """The words (letters or a number) among tokens ``[first, last)``."""
    return [doc[i] for i in range(first, last) if doc[i].is_alpha or doc[i].like_num]
