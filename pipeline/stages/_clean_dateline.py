"""Datelines: "WASHINGTON (Reuters) -", "LONDON, Jan 5 (AP) —", "ERBIL, Kurdistan Region of Iraq -".

Wire convention: the place opens in capitals, optional qualifiers follow after commas (state, country,
region), then an optional date and an optional agency in brackets, then a dash. A bare "(Reuters) —"
with no place also counts. The dash must be followed by the start of the story.
"""

from __future__ import annotations

import re

from schemas.records import Dateline

_MONTH = (
    r"(?i:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?i:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\.?"
_DATE = (
    rf"(?:{_WEEKDAY},?\s+)?(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?|{_WEEKDAY})"
)
# A capitalised place word: "WASHINGTON", "N.Y.", "ST.", "SAO", "D.C.", "O'HARE".
_CAP_WORD = r"[A-Z][A-Z.'’\-]*[A-Z.]|[A-Z]"
_PLACE = rf"(?:{_CAP_WORD})(?:[ \t]+(?:{_CAP_WORD}))*"
_QUAL_WORD = r"(?:[A-Z][\w.'’\-]*|of|and|the|de|del|la|al|el|du|do|da|upon|on)"
_QUALIFIER = rf",[ \t]*(?!{_MONTH}\s+\d|\d)(?:{_QUAL_WORD})(?:[ \t]+{_QUAL_WORD}){{0,4}}"
_AGENCY = r"\((?:[A-Za-z][\w&.'’\- ]{0,30})\)"
_DASH = r"(?:--?|—|–|−)"

# Title-case places ("Toronto, March 12 -") count only with a date, which keeps "Biden - ..." out.
_TITLE_PLACE = r"[A-Z][a-z'’\-]+(?:[ \t]+[A-Z][a-z'’\-]+){0,3}"
_DATELINE = re.compile(
    rf"^(?P<text>"
    rf"(?:"
    rf"(?:(?P<place>{_PLACE}(?:{_QUALIFIER}){{0,3}})(?:,?[ \t]+(?P<date>{_DATE}))?"
    rf"|(?P<tplace>{_TITLE_PLACE}(?:{_QUALIFIER}){{0,3}}),?[ \t]+(?P<tdate>{_DATE}))"
    rf"(?:[ \t]*(?P<agency>{_AGENCY}))?"
    rf"|(?P<agency_only>{_AGENCY})"
    rf")"
    rf",?[ \t]*{_DASH})[ \t]+(?![a-z])(?=\S)"
)
_MAX_DATELINE_CHARS = 90


def split_dateline(paragraph: str) -> tuple[Dateline, str] | None:
    """(dateline, rest of the paragraph) when the paragraph opens with a dateline, else None."""
    m = _DATELINE.match(paragraph)
    if m is None or len(m.group("text")) > _MAX_DATELINE_CHARS:
        return None
    rest = paragraph[m.end() :].strip()
    if not rest:
        return None
    agency = m.group("agency") or m.group("agency_only")
    return (
        Dateline(
            text=m.group("text").strip(),
            place=(m.group("place") or m.group("tplace") or "").strip(" ,") or None,
            date=m.group("date") or m.group("tdate"),
            agency=agency.strip("() ") if agency else None,
        ),
        rest,
    )
