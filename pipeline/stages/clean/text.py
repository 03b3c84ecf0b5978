"""Plain-text bodies to paragraphs, and the Unicode repair every paragraph gets.

Wire text arrives in two layouts: blank-line separated paragraphs (scraped pages, modern feeds) and
hard-wrapped lines where an indented line starts a paragraph (old teletype-style wires). Scraped text
also puts one item per line (a date line, then a caption), so a single newline only joins lines when
the block really looks hard-wrapped.
"""

from __future__ import annotations

import re
import statistics

import ftfy

# Quote marks are data downstream (curly vs straight), so ftfy must not straighten them.
_FTFY = ftfy.TextFixerConfig(uncurl_quotes=False, normalization="NFC", explain=False)

_BLANK_LINE = re.compile(r"\n[ \t\u00a0\u200b]*\n")
_INDENT = re.compile(r"^[ \t]+\S")
_SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*$")
# Zero-width and other invisible characters that scraped pages leave around spacer paragraphs.
_INVISIBLE = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# Text ftfy leaves as it is: printable ASCII, tabs and newlines, no "&" (the start of an HTML entity). Every
# other fix of ftfy's needs a non-ASCII character, a control character or an escape.
_PLAIN_ASCII = re.compile(r"[\x20-\x25\x27-\x7e\t\n]*")


def repair(text: str) -> str:
    """Fix mojibake and HTML-escape leftovers, NFC-normalise, collapse whitespace; quote marks untouched.

    Most wire paragraphs are plain ASCII, which ftfy would return unchanged: those skip it (a third of the
    cleaning stage's time, and so of what a duplicate costs)."""
    if _PLAIN_ASCII.fullmatch(text):
        return " ".join(text.split())
    fixed = ftfy.fix_text(text, _FTFY)
    return " ".join(_INVISIBLE.sub("", fixed).split())


def _hard_wrapped(lines: list[str]) -> bool:
    """Lines cut at a fixed width: three or more, none very long, most of them near the same length, and
    most ending inside a sentence (one sentence a line is a list of sentences, not wrapped text)."""
    ends = [line.rstrip() for line in lines[:-1] if line.strip()]
    if len(ends) < 2:
        return False
    lengths = [len(line) for line in ends]
    sentence_ends = sum(1 for line in ends if _SENTENCE_END.search(line))
    return max(lengths) <= 100 and statistics.median(lengths) >= 35 and 2 * sentence_ends < len(ends)


# A wrapped line stops well short of the wrap width only where its paragraph (or a title line) ends.
_SHORT_LINE = 0.6


def _ends_paragraph(line: str, following: str, width: int, mixed_case: bool) -> bool:
    """A short line, or a line in capitals in mixed-case text (a title), ends its paragraph unless the next
    line carries on its sentence (starts lower-case)."""
    text, nxt = line.strip(), following.strip()
    if not nxt or nxt[0].islower():
        return False
    shouted = mixed_case and any(c.isupper() for c in text) and not any(c.islower() for c in text)
    return len(text) < _SHORT_LINE * width or shouted


def text_paragraphs(text: str) -> list[str]:
    """Split a plain-text body into raw paragraph strings (not yet repaired).

    In a hard-wrapped block an indented line starts a paragraph, and so does the line after a short one
    (a title, a dateline line or a paragraph's last line), unless it continues a sentence."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    for block in _BLANK_LINE.split(text):
        lines = block.split("\n")
        if not _hard_wrapped(lines):
            out.extend(line for line in lines if line.strip())
            continue
        width = max(len(line.strip()) for line in lines)
        # In text all in capitals a capitals line is no title; only short lines end paragraphs there.
        mixed_case = any(c.islower() for c in block)
        current: list[str] = []
        for i, line in enumerate(lines):
            if _INDENT.match(line) and current:
                out.append(" ".join(current))
                current = []
            if line.strip():
                current.append(line.strip())
            if current and i + 1 < len(lines) and _ends_paragraph(line, lines[i + 1], width, mixed_case):
                out.append(" ".join(current))
                current = []
        if current:
            out.append(" ".join(current))
    return out
