"""Flashes: the first message of a breaking story, whose body only repeats its headline.

Agencies send the headline of a breaking story on its own first ("FLASH", "URGENT", "BULLETIN"), often with
the same line as the body, sometimes with a wire slug or a dateline around it ("URGENT: ...", "FLASH -- ...",
"TOKYO (Reuters) - ..."); the first take follows as a later version. Furniture sorting takes a body line equal
to the headline out as a repeat, which would leave such an item with no body. Here a flash is recognised
from what sorting left, and its one line is handed back as the story: the alert is the story so far.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.stages.clean.dateline import split_dateline
from pipeline.stages.clean.furniture import HEADLINE, word_key
from schemas.records import Dateline

#: The fate of a wire slug that marks a flash ("FLASH", "URGENT: "): cut, and listed in ``removed``.
WIRE_SLUG = "wire slug"

# Words agencies put on a flash. Only ever read next to a line that repeats the headline, so a word that is
# also common English ("alert") cannot cost a story its text.
_SLUG = r"(?:FLASH|NEWS ?FLASH|URGENT|BULLETIN|BREAKING(?: NEWS)?|(?:NEWS )?ALERT)"
# Slugs come stacked ("URGENT URGENT", "FLASH -- FLASH") and decorated ("++ BREAKING ++", "*** FLASH ***").
_SLUGS = rf"{_SLUG}(?:[ \t]*[-–—:|*+]*[ \t]*{_SLUG})*"
_MARKS = r"[ \t]*[-–—:|*+]+[ \t]*"
_DECOR = r"[ \t*+#]*"
# Before the line: in any case when a mark parts it from the line ("Breaking: ..."), in capitals when only a
# space does and the next word is not in capitals ("URGENT Powerful earthquake..."): "Urgent talks resume"
# keeps its first word, and so does a headline in capitals ("ALERT LEVEL RAISED").
_LEADING = re.compile(rf"^{_DECOR}(?:(?i:{_SLUGS}){_MARKS}|{_SLUGS}[ \t]+(?=\S*[a-z]))")
# After the line: behind a mark or in brackets ("... -- FLASH", "... (URGENT)").
_TRAILING = re.compile(rf"[ \t]*(?:[-–—:|*+]+|[(\[])[ \t]*(?i:{_SLUGS})[ \t*+)\].!]*$")
_SLUG_LINE = re.compile(rf"[^\w]*(?i:{_SLUGS})[^\w]*")


def is_slug_line(text: str) -> bool:
    """A paragraph that is only a wire slug ("FLASH", "URGENT URGENT", "++ Breaking ++")."""
    return _SLUG_LINE.fullmatch(text) is not None


def split_slugs(text: str) -> tuple[str, str, str]:
    """(leading slugs, the line, trailing slugs), each stripped; the slugs are "" where there are none."""
    line, before, after = text.strip(), "", ""
    while (found := _LEADING.match(line)) and line[found.end() :].strip():
        before, line = f"{before} {found.group().strip()}".strip(), line[found.end() :].strip()
    while (found := _TRAILING.search(line)) and line[: found.start()].strip():
        after, line = f"{found.group().strip()} {after}".strip(), line[: found.start()].strip()
    return before, line, after


@dataclass(frozen=True)
class Flash:
    """A flash's one story line: which paragraph it is, its text without slugs or dateline, the slugs that
    came off it, and the article's dateline (found on the line, or as it was)."""

    index: int
    line: str
    leading: str = ""
    trailing: str = ""
    dateline: Dateline | None = None


def find_flash(
    paragraphs: list[str], fates: list[str | None], headline: str, dateline: Dateline | None
) -> Flash | None:
    """The story line of a flash, or None when the item is not one.

    A flash is an item whose paragraphs, once furniture is sorted (``fates``), hold one story line, and that
    line is the headline again (compared as words, wire slugs aside, after a dateline when the item has
    none yet): either the only kept paragraph, or, when nothing is kept but slug lines, the first paragraph
    sorting took out as a repeat of the headline. Anything else kept (a second line, a different line)
    means the item is not a flash, and an item with no repeat of its headline is not one either."""
    _, bare, _ = split_slugs(headline)
    if is_slug_line(bare):
        return None  # a headline that is only "FLASH" says nothing a body could repeat
    target = word_key(bare)
    kept: list[int] = []
    for i, fate in enumerate(fates):
        if fate is None and not is_slug_line(paragraphs[i]):
            kept.append(i)
            if len(kept) > 1:
                return None  # most articles: decided at their second kept paragraph
    candidates = kept or [i for i, fate in enumerate(fates) if fate == HEADLINE]
    if not target or not candidates:
        return None
    i = candidates[0]
    leading, line, trailing = split_slugs(paragraphs[i])
    if dateline is not None and is_slug_line(dateline.text):
        # "FLASH -- Powerful earthquake...": dateline-shaped, but the place is a slug, which leads the line.
        leading, dateline = f"{dateline.text} {leading}".strip(), None
    if dateline is None and (found := split_dateline(line)) is not None and found[1]:
        dateline = found[0]
        more, line, after = split_slugs(found[1])
        leading, trailing = f"{leading} {more}".strip(), f"{after} {trailing}".strip()
    if not line or is_slug_line(line) or word_key(line) != target:
        return None
    return Flash(index=i, line=line, leading=leading, trailing=trailing, dateline=dateline)
