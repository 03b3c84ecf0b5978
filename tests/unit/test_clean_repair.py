"""The Unicode repair's ASCII shortcut: whatever takes it comes out as ftfy would have made it."""

from __future__ import annotations

import ftfy
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stages.clean.text import _FTFY, _INVISIBLE, _PLAIN_ASCII, repair


def _through_ftfy(text: str) -> str:
    return " ".join(_INVISIBLE.sub("", ftfy.fix_text(text, _FTFY)).split())


# ASCII with the characters that matter to ftfy over-represented: entities, controls, escapes, breaks.
_ASCII_TEXT = st.lists(
    st.one_of(
        st.characters(min_codepoint=0, max_codepoint=127),
        st.sampled_from(["&amp;", "&quot;", "&#39;", "\x1b[31m", "\r\n", "\t", "<b>", '"', "'", " said "]),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(_ASCII_TEXT)
def test_ascii_text_repairs_as_ftfy_repairs_it(text: str) -> None:
    """For any ASCII text (shortcut or not) the repair equals ftfy's followed by the whitespace collapse."""
    assert repair(text) == _through_ftfy(text)


def test_the_shortcut_is_taken_only_by_text_ftfy_cannot_change() -> None:
    """Plain wire prose takes the shortcut; an entity, a control character or non-ASCII text does not."""
    assert _PLAIN_ASCII.fullmatch('He said: "We will win," on Tuesday (AP).\n')
    for text in ["Tom &amp; Jerry", "a\x00b", "caf\u00e9", "\x1b[1mbold", "line\r\nbreak", "donâ€™t"]:
        assert not _PLAIN_ASCII.fullmatch(text)
    assert repair("Tom &amp; Jerry") == "Tom & Jerry"
    assert repair("donâ€™t") == "don’t"
