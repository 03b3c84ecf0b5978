"""The product eval's offset map (``eval/product.py``): published offsets back into the labelled text.
The product figures in ``make eval`` are only as right as this map."""

from __future__ import annotations

from eval.product import Alignment

TEXT = (
    "SOCCER - JAPAN WIN .\n"
    "AL-AIN , United Arab Emirates 1996-12-06\n"
    "Japan  beat Syria on Friday .\n"
    "Advertisement\n"
    "China lost to Uzbekistan ."
)
PARTS = [
    ("headline", "SOCCER - JAPAN WIN ."),
    ("dateline", "AL-AIN , United Arab Emirates 1996-12-06"),
    ("body", "Japan beat Syria on Friday .\n\nChina lost to Uzbekistan ."),
]


def _span_of(part: str, phrase: str) -> tuple[int, int]:
    text = dict(PARTS)[part]
    start = text.index(phrase)
    return start, start + len(phrase)


def test_offsets_of_every_part_map_onto_the_same_words_of_the_labelled_text() -> None:
    """Headline, dateline and body offsets land on the labelled text's words, whitespace changes aside."""
    alignment = Alignment(TEXT, PARTS)
    for part, phrase in [
        ("headline", "JAPAN"),
        ("dateline", "United Arab Emirates"),
        ("body", "Syria"),
        ("body", "Uzbekistan"),
    ]:
        mapped = alignment.span(part, *_span_of(part, phrase))
        assert mapped is not None
        assert TEXT[mapped[0] : mapped[1]] == phrase


def test_a_span_across_collapsed_whitespace_maps_to_the_original_span() -> None:
    """ "Japan beat" in the body was "Japan  beat" (two spaces) in the text."""
    alignment = Alignment(TEXT, PARTS)
    mapped = alignment.span("body", *_span_of("body", "Japan beat"))
    assert mapped is not None
    assert TEXT[mapped[0] : mapped[1]] == "Japan  beat"


def test_a_title_line_found_after_the_dateline_still_maps() -> None:
    """Parts are found wherever they stood: a body whose first line came before the dateline line."""
    text = "Canada cash balances fall .\nOTTAWA 1996-08-30\nThe government said so ."
    parts = [
        ("dateline", "OTTAWA 1996-08-30"),
        ("body", "Canada cash balances fall .\n\nThe government said so ."),
    ]
    alignment = Alignment(text, parts)
    assert alignment.span("dateline", 0, 6) == (text.index("OTTAWA"), text.index("OTTAWA") + 6)
    assert alignment.span("body", 0, 6) == (0, 6)


def test_text_not_in_the_labelled_text_has_no_span() -> None:
    """A headline that came from a field, not from the text, maps nowhere."""
    alignment = Alignment("Japan beat Syria .", [("headline", "Asian Cup"), ("body", "Japan beat Syria .")])
    assert alignment.span("headline", 0, 5) is None
