"""Datelines: "WASHINGTON (Reuters) -", "LONDON, Jan 5 (AP) —", "ERBIL, Kurdistan Region of Iraq -".

Wire convention: the place opens in capitals, optional qualifiers follow after commas (state, country,
region), then an optional date and an optional agency in brackets, then a dash. A bare "(Reuters) —"
with no place also counts. The dash must be followed by the start of the story; before a rest in
capitals the dateline needs a date or an agency ("SOCCER - JAPAN GET LUCKY WIN" is a headline with a
topic slug, "BUENOS AIRES, APR 9 - ABOUT 3,314 HEAD OF CATTLE" an all-capitals story). A dateline may also
stand on a line of its own when it carries a date ("LONDON 1996-08-30", "VENICE , Italy 1996-08-31").
Tokenised text puts a space before commas, so a comma may follow white space anywhere.
"""

from __future__ import annotations

import re

from schemas.records import Dateline

_MONTH = (
    r"(?i:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?i:(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?)\.?"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_DATE = (
    rf"(?:{_WEEKDAY}\s*,?\s+)?(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:\s*,?\s+\d{{4}})?"
    rf"|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?|{_ISO_DATE}|{_WEEKDAY})"
)
# A capitalised place word: "WASHINGTON", "N.Y.", "ST.", "SAO", "D.C.", "O'HARE".
_CAP_WORD = r"[A-Z][A-Z.'’\-]*[A-Z.]|[A-Z]"
_PLACE = rf"(?:{_CAP_WORD})(?:[ \t]+(?:{_CAP_WORD}))*"
_QUAL_WORD = r"(?:[A-Z][\w.'’\-]*|of|and|the|de|del|la|al|el|du|do|da|upon|on)"
_QUALIFIER = rf"[ \t]?,[ \t]*(?!{_MONTH}\s+\d|\d)(?:{_QUAL_WORD})(?:[ \t]+{_QUAL_WORD}){{0,4}}"
_AGENCY = r"\([ \t]?(?:[A-Za-z][\w&.'’\- ]{0,30})\)"
_DASH = r"(?:--?|—|–|−)"

# Title-case places ("Toronto, March 12 -") count only with a date, which keeps "Biden - ..." out.
_TITLE_PLACE = r"[A-Z][a-z'’\-]+(?:[ \t]+[A-Z][a-z'’\-]+){0,3}"
_DATELINE = re.compile(
    rf"^(?P<text>"
    rf"(?:"
    rf"(?:(?P<place>{_PLACE}(?:{_QUALIFIER}){{0,3}})(?:[ \t]?,?[ \t]+(?P<date>{_DATE}))?"
    rf"|(?P<tplace>{_TITLE_PLACE}(?:{_QUALIFIER}){{0,3}})[ \t]?,?[ \t]+(?P<tdate>{_DATE}))"
    rf"(?:[ \t]*(?P<agency>{_AGENCY}))?"
    rf"|(?P<agency_only>{_AGENCY})"
    rf")"
    rf"[ \t]?,?[ \t]*{_DASH})[ \t]+(?![a-z])(?=\S)"
)
# A line that is only a dated dateline: a place (not a day or month name), its qualifiers, a calendar
# date, an optional agency and an optional dash or full stop.
_CALENDAR_DATE = (
    rf"(?:{_WEEKDAY}\s*,?\s+)?(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:\s*,?\s+\d{{4}})?"
    rf"|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?|{_ISO_DATE})"
)
_DATED_LINE = re.compile(
    rf"^(?!{_WEEKDAY}\b|{_MONTH}\b)(?P<text>"
    rf"(?:(?P<place>{_PLACE}(?:{_QUALIFIER}){{0,3}})|(?P<tplace>{_TITLE_PLACE}(?:{_QUALIFIER}){{0,3}}))"
    rf"[ \t]?,?[ \t]+(?P<date>{_CALENDAR_DATE})(?:[ \t]*(?P<agency>{_AGENCY}))?(?:[ \t]*{_DASH})?)"
    rf"[ \t]*\.?$"
)
_MAX_DATELINE_CHARS = 90


def split_dateline(paragraph: str) -> tuple[Dateline, str] | None:
    """(dateline, rest of the paragraph) when the paragraph opens with a dateline, else None.

    The rest is empty when the whole paragraph is a dated dateline line."""
    dated = _DATED_LINE.match(paragraph)
    if dated is not None and len(dated.group("text")) <= _MAX_DATELINE_CHARS:
        return _dateline(dated), ""
    m = _DATELINE.match(paragraph)
    if m is None or len(m.group("text")) > _MAX_DATELINE_CHARS:
        return None
    rest = paragraph[m.end() :].strip()
    if not rest:
        return None
    dateline = _dateline(m)
    # Before a rest in capitals, a bare capitalised word and a dash is a topic slug of a shouted title
    # ("SOCCER - JAPAN GET LUCKY WIN"); an all-capitals story still has a dated or credited dateline.
    if not any(c.islower() for c in rest) and dateline.date is None and dateline.agency is None:
        return None
    return dateline, rest


def _dateline(m: re.Match[str]) -> Dateline:
    groups = m.groupdict()
    agency = groups.get("agency") or groups.get("agency_only")
    return Dateline(
        text=m.group("text").strip(),
        place=(groups.get("place") or groups.get("tplace") or "").strip(" ,") or None,
        date=groups.get("date") or groups.get("tdate"),
        agency=agency.strip("() ") if agency else None,
    )
