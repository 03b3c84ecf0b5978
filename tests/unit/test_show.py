"""`wirepipe show`: the page of one record (render_page), its nested marks, where the record comes from."""

from __future__ import annotations

import base64
import re
import signal
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition

from pipeline.cli import main
from pipeline.show import render_page
from pipeline.show.marks import Mark, render_marked
from pipeline.show.source import ShowError, last_from_lines, last_value
from pipeline.show.style import label_colour
from schemas.records import (
    Changes,
    Dateline,
    DeadLetter,
    EnrichedArticle,
    Entity,
    EntityChange,
    Mention,
    NumberChange,
    Paragraph,
    ParagraphEdit,
    Quote,
    QuoteChange,
    RemovedText,
    Span,
    WordChange,
)
from tests.html_tree import Element, parse

P0 = 'Joe Biden said "Iraq & <script>alert(1)</script> will decide" on Sunday.'
P1 = "The US met Iraq in Baghdad."
BODY = P0 + "\n\n" + P1
HEADLINE = "Biden <script>alert(2)</script> on Iraq"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _at(text: str, part: str, occurrence: int = 0, start: int = 0) -> tuple[int, int]:
    index = text.index(part, start)
    for _ in range(occurrence):
        index = text.index(part, index + 1)
    return index, index + len(part)


def _entity(label: str, name: str, mentions: list[tuple[str, str, int, int]]) -> Entity:
    """An entity from (part, text, start, end) mentions."""
    return Entity(
        id=f"{label}:{name.lower().replace(' ', '-')}",
        name=name,
        label=label,
        mentions=[Mention(part=part, text=text, start=s, end=e) for part, text, s, e in mentions],
        count=len(mentions),
        first_start=mentions[0][2],
    )


def _article(**changes: Any) -> EnrichedArticle:
    """A hand-made enriched article: a direct quote holding an entity, hostile markup in every text part."""
    quote_start = P0.index('"') + 1
    quote_end = P0.index('"', quote_start)
    second = len(P0) + 2
    fields: dict[str, Any] = {
        "outcome": "enriched",
        "id": "urn:test:show",
        "version": 2,
        "headline": HEADLINE,
        "byline": "By <i>Reporter</i>",
        "dateline": Dateline(text="BAGHDAD (Wire) -", place="BAGHDAD", agency="Wire"),
        "body": BODY,
        "paragraphs": [Paragraph(start=0, end=len(P0)), Paragraph(start=second, end=len(BODY))],
        "removed": [
            RemovedText(text="Advertisement <img src=x onerror=alert(3)>", reason="label", before_paragraph=1)
        ],
        "language": "en",
        "entities": [
            _entity("PERSON", "Joe Biden", [("headline", "Biden", 0, 5), ("body", "Joe Biden", 0, 9)]),
            _entity(
                "GPE",
                "Iraq",
                [
                    ("headline", "Iraq", *_at(HEADLINE, "Iraq")),
                    ("body", "Iraq", *_at(BODY, "Iraq")),
                    ("body", "Iraq", *_at(BODY, "Iraq", 1)),
                ],
            ),
            _entity("GPE", "United States", [("body", "US", *_at(BODY, "US"))]),
        ],
        "quotes": [
            Quote(
                text=P0[quote_start:quote_end],
                spans=[Span(start=quote_start, end=quote_end)],
                paragraph=0,
                speaker="Joe Biden",
                speaker_start=0,
                speaker_end=9,
                speaker_entity_id="PERSON:joe-biden",
                verb="said",
            )
        ],
        "processed_at": NOW,
    }
    fields.update(changes)
    return EnrichedArticle(**fields)


def _body(page: str) -> Element:
    root, faults = parse(page)
    assert faults == []
    return root.find("article", "body")


# --- render_marked: the nesting ---------------------------------------------------------------------


def test_crossing_marks_are_split_into_nested_fragments_with_each_label_once() -> None:
    quote = Mark(0, 6, attrs={"class": "q"}, label="Q", label_first=True)
    entity = Mark(4, 9, attrs={"class": "e"}, label="E")

    markup = render_marked("abcdefghij", [quote, entity])

    assert markup == (
        '<mark class="q" data-label="Q">abcd<mark class="e">ef</mark></mark>'
        '<mark class="e" data-label="E">ghi</mark>j'
    )


def test_a_mark_with_the_same_extent_as_another_nests_by_rank() -> None:
    outer = Mark(0, 3, attrs={"class": "outer"}, rank=1)
    inner = Mark(0, 3, attrs={"class": "inner"}, rank=2)

    assert render_marked("abc", [inner, outer]) == '<mark class="outer"><mark class="inner">abc</mark></mark>'


def test_a_block_stays_outermost_and_an_inline_mark_crossing_it_is_reopened_inside() -> None:
    paragraphs = [Mark(0, 2, element="p", block=True), Mark(3, 5, element="p", block=True)]
    crossing = Mark(1, 4, attrs={"class": "m"})

    markup = render_marked("ab\ncd", [*paragraphs, crossing])

    assert (
        markup == '<p>a<mark class="m">b</mark></p><mark class="m">\n</mark><p><mark class="m">c</mark>d</p>'
    )


def test_marks_outside_the_text_or_empty_are_left_out_and_the_text_is_kept() -> None:
    marks = [Mark(2, 99), Mark(3, 3), Mark(-1, 2)]

    assert render_marked("a<b", marks) == "a&lt;b"


# --- render_page: an enriched article --------------------------------------------------------------


def test_every_character_of_the_body_appears_once_in_order_once_tags_are_stripped() -> None:
    page = render_page(_article())

    assert _body(page).text() == BODY


def test_script_in_headline_byline_body_and_removed_text_is_escaped_not_markup() -> None:
    page = render_page(_article())
    root, _ = parse(page)

    assert "<script" not in page.lower() and "<img" not in page.lower() and "<i>" not in page
    assert {e.tag for e in root.iter()}.isdisjoint({"script", "img", "i"})
    assert (
        root.find("h1", "headline").text() == HEADLINE
        and root.find("p", "byline").text() == "byline By <i>Reporter</i>"
    )
    assert "Advertisement <img src=x onerror=alert(3)>" in root.find("section", "removed").text()


def test_the_page_fetches_nothing_and_forbids_scripts() -> None:
    page = render_page(_article())
    root, _ = parse(page)

    assert all(not {"src", "srcset"} & e.attrs.keys() for e in root.iter())
    assert all(e.attrs.get("href", "#").startswith("#") for e in root.iter())  # in-page links only
    assert root.find_all("link") == [] and root.find_all("script") == []
    assert "url(" not in root.find("style").text() and "@import" not in root.find("style").text()
    assert "default-src 'none'" in page


def test_a_quote_containing_an_entity_nests_the_entity_mark_inside_the_quote_mark() -> None:
    body = _body(render_page(_article()))

    quote = body.find("mark", "quote")
    assert quote.attrs["data-speaker"] == "Joe Biden" and quote.attrs["data-label"] == "QUOTE — Joe Biden"
    assert quote.text() == "Iraq & <script>alert(1)</script> will decide"
    inner = quote.find("mark", "ent")
    assert inner.text() == "Iraq" and inner.attrs["data-entity-label"] == "GPE"


def test_body_entities_are_boxed_in_displacys_colour_for_their_label() -> None:
    body = _body(render_page(_article()))

    boxes = {(e.text(), e.attrs["data-label"], e.attrs["style"]) for e in body.find_all("mark", "ent")}
    assert boxes == {
        ("Joe Biden", "PERSON", f"--ent: {label_colour('PERSON')}"),
        ("Iraq", "GPE", f"--ent: {label_colour('GPE')}"),
        ("US", "GPE", f"--ent: {label_colour('GPE')}"),
    }
    assert label_colour("PERSON") == "#aa9cfc" and label_colour("NO_SUCH_LABEL") == "#ddd"


def test_the_speaker_of_a_quote_is_underlined_inside_its_entity_box() -> None:
    body = _body(render_page(_article()))

    speaker = body.find("mark", "speaker")
    assert speaker.text() == "Joe Biden"
    assert any(speaker in e.iter() for e in body.find_all("mark", "ent") if e.text() == "Joe Biden")


def test_headline_byline_and_dateline_mentions_are_highlighted_in_their_own_text() -> None:
    byline = _entity("PERSON", "Reporter", [("byline", "Reporter", 6, 14)])
    place = _entity("GPE", "Baghdad", [("dateline", "BAGHDAD", 0, 7)])
    article = _article()
    root, _ = parse(render_page(_article(entities=[*article.entities, byline, place])))

    headline = root.find("h1", "headline")
    assert headline.text() == HEADLINE
    assert [(m.text(), m.attrs["data-label"]) for m in headline.find_all("mark", "ent")] == [
        ("Biden", "PERSON"),
        ("Iraq", "GPE"),
    ]
    assert [m.text() for m in root.find("p", "byline").find_all("mark", "ent")] == ["Reporter"]
    assert [m.text() for m in root.find("p", "dateline").find_all("mark", "ent")] == ["BAGHDAD"]
    assert "agency <b>Wire</b>" in render_page(article)


def test_quotes_and_entities_are_listed_in_tables() -> None:
    root, _ = parse(render_page(_article()))

    quote_row = [td.text() for td in root.find("section", "quotes").find_all("td")]
    assert quote_row == [
        "0",
        _article().quotes[0].text,
        "Joe Biden",
        "PERSON:joe-biden",
        "said",
        "direct",
        "0",
    ]
    entity_rows = root.find("section", "entities").find_all("tr")[1:]
    assert [[td.text() for td in row.find_all("td")][:4] for row in entity_rows] == [
        ["Joe Biden", "PERSON", "PERSON:joe-biden", "2"],
        ["Iraq", "GPE", "GPE:iraq", "3"],
        ["United States", "GPE", "GPE:united-states", "1"],
    ]


def test_a_quote_confidence_column_appears_once_quotes_carry_a_confidence() -> None:
    scored = _article().quotes[0].model_copy(update={"confidence": 0.875})
    page = render_page(_article(quotes=[scored]))
    root, _ = parse(page)

    heads = [th.text() for th in root.find("section", "quotes").find_all("th")]
    assert heads[-1] == "confidence" and root.find("section", "quotes").find_all("td")[-1].text() == "0.88"
    assert "confidence" not in render_page(_article())


def test_removed_text_is_listed_with_its_reason_and_the_paragraph_it_stood_before() -> None:
    root, _ = parse(render_page(_article()))

    cells = [td.text() for td in root.find("section", "removed").find_all("td")]
    assert cells == [
        "Advertisement <img src=x onerror=alert(3)>",
        "label",
        "before ¶1 The US met Iraq in Baghdad.",
    ]
    assert root.find("section", "removed").find("a").attrs["href"] == "#p1"
    assert _body(render_page(_article())).find_all("p")[1].attrs["id"] == "p1"


def test_an_update_shows_its_changes_with_word_diffs_numbers_and_quotes_escaped() -> None:
    changes = Changes(
        previous_version=1,
        summary="1 paragraph edited, death toll 12 -> 15, <b>1 quote removed</b>",
        correction=["headline slug CORRECTED"],
        paragraphs_edited=[
            ParagraphEdit(
                old_index=0,
                new_index=0,
                similarity=0.9,
                words=[WordChange(op="replace", old="12", new="15")],
            )
        ],
        numbers=[NumberChange(old="12", new="15", before="killed", after="people", paragraph=0)],
        quotes_removed=[QuoteChange(index=1, text="We <will> act", speaker="Jane Doe", speaker_key="x")],
        entities_added=[EntityChange(id="GPE:iraq", name="Iraq", label="GPE")],
    )
    update = _article(outcome="update").model_copy(update={"changes": changes})
    root, faults = parse(render_page(update))

    section = root.find("section", "changes")
    assert faults == []
    assert "death toll 12 -> 15, <b>1 quote removed</b>" in section.find("p").text()
    assert [d.text() for d in section.find_all("del")][:2] == ["12", "12"]
    assert [i.text() for i in section.find_all("ins")][:2] == ["15", "15"]
    assert "“We <will> act” — Jane Doe" in section.text()
    assert "headline slug CORRECTED" in section.text() and "GPE:iraq" in section.text()
    plain, _ = parse(render_page(_article()))
    assert plain.find_all("section", "changes") == []


# --- render_page: records without enrichment ---------------------------------------------------------


def test_a_withdrawn_record_shows_its_identity_outcome_and_reason() -> None:
    withdrawn = EnrichedArticle(
        outcome="withdrawn", id="urn:test:gone", version=3, reason="pubstatus <canceled>", processed_at=NOW
    )
    root, faults = parse(render_page(withdrawn))

    header = root.find("header", "record").text()
    assert faults == [] and "withdrawn" in header and "urn:test:gone" in header and "version 3" in header
    assert root.find("section", "notice").text() == "reason pubstatus <canceled>"
    assert root.find_all("article") == []


def test_a_duplicate_shows_which_article_it_duplicates_and_its_clean_body() -> None:
    duplicate = _article(
        outcome="duplicate",
        entities=[],
        quotes=[],
        duplicate={"status": "near_duplicate", "duplicate_of": "urn:test:first", "similarity": 0.91},
    )
    root, _ = parse(render_page(duplicate))

    assert root.find("section", "notice").text() == "near duplicate of urn:test:first, similarity 0.910"
    assert root.find("article", "body").text() == BODY


def test_a_dead_letter_shows_its_code_stage_message_and_escaped_original() -> None:
    letter = DeadLetter(
        error_code="E_DECODE_JSON",
        stage="decode",
        message="Expecting value",
        original_b64=base64.b64encode(b"<script>not json").decode(),
        topic="wirepipe.raw",
        partition=3,
        offset=17,
        article_id="urn:test:broken",
        failed_at=NOW,
    )
    page = render_page(letter)
    root, faults = parse(page)

    assert faults == [] and "<script" not in page
    assert "dead letter" in root.find("header", "record").text()
    assert [dd.text() for dd in root.find("dl").find_all("dd")] == [
        "E_DECODE_JSON",
        "decode",
        "Expecting value",
        "wirepipe.raw",
        "3",
        "17",
    ]
    assert root.find("pre").text() == "<script>not json"


# --- where the record comes from ---------------------------------------------------------------------


def _line(record: EnrichedArticle) -> bytes:
    return record.model_dump_json().encode()


def test_the_first_lines_id_is_shown_by_default_in_its_last_version() -> None:
    first, other, second = _article(version=1), _article(id="urn:test:other"), _article(version=2)

    chosen = last_from_lines([b"not json", _line(first), _line(other), _line(second)], None)

    assert chosen == _line(second)


def test_a_stale_record_does_not_replace_the_current_version_of_its_id() -> None:
    current, stale = _article(version=3), _article(outcome="stale", version=1, entities=[], quotes=[])

    assert last_from_lines([_line(current), _line(stale)], "urn:test:show") == _line(current)
    assert last_from_lines([_line(stale)], "urn:test:show") == _line(stale)


def test_an_unknown_uri_or_an_input_without_records_is_a_show_error() -> None:
    with pytest.raises(ShowError, match="no record with id 'urn:nope'"):
        last_from_lines([_line(_article())], "urn:nope")
    with pytest.raises(ShowError, match="holds no record"):
        last_from_lines([b"[]", b"{}"], None)


class _FakeConsumer:
    """Two partitions of a topic, each read whole by one poll."""

    def __init__(self, partitions: dict[int, list[tuple[bytes, bytes | None]]]) -> None:
        self.partitions = partitions
        self.positions: dict[TopicPartition, int] = {}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return set(self.partitions) if topic == "enriched" else set()

    def assign(self, assigned: list[TopicPartition]) -> None:
        self.positions = dict.fromkeys(assigned, 0)

    def seek_to_beginning(self, *assigned: TopicPartition) -> None:
        for tp in assigned:
            self.positions[tp] = 0

    def end_offsets(self, assigned: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.partitions[tp.partition]) for tp in assigned}

    def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        batch = {}
        for tp, at in self.positions.items():
            records = self.partitions[tp.partition][at:]
            batch[tp] = [type("Message", (), {"key": key, "value": value}) for key, value in records]
            self.positions[tp] = at + len(records)
        return batch


def test_the_topic_gives_the_last_value_of_the_key_and_a_tombstone_does_not_hide_it() -> None:
    consumer = _FakeConsumer(
        {
            0: [(b"urn:a", b"v1"), (b"urn:b", b"other"), (b"urn:a", b"v2"), (b"urn:a", None)],
            1: [(b"urn:c", b"x")],
        }
    )

    assert last_value(consumer, "enriched", b"urn:a", timeout_s=5) == b"v2"
    with pytest.raises(ShowError, match="no record keyed 'urn:z'"):
        last_value(consumer, "enriched", b"urn:z", timeout_s=5)
    with pytest.raises(ShowError, match="does not exist"):
        last_value(consumer, "missing", b"urn:a", timeout_s=5)


# --- the command ---------------------------------------------------------------------------------------


def test_show_writes_the_page_of_the_chosen_uri_to_the_output_file(tmp_path: Path) -> None:
    source = tmp_path / "enriched.jsonl"
    source.write_bytes(_line(_article(id="urn:test:first")) + b"\n" + _line(_article()) + b"\n")
    page = tmp_path / "page.html"

    assert main(["show", str(source), "--uri", "urn:test:show", "-o", str(page)]) == 0
    assert page.read_text(encoding="utf-8") == render_page(_article())


def test_show_exits_2_with_a_clear_message_when_the_uri_is_not_in_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "enriched.jsonl"
    source.write_bytes(_line(_article()) + b"\n")

    assert main(["show", str(source), "--uri", "urn:nope"]) == 2
    assert "no record with id 'urn:nope'" in capsys.readouterr().err


def test_show_serves_the_page_on_localhost_until_interrupted(tmp_path: Path) -> None:
    source = tmp_path / "enriched.jsonl"
    source.write_bytes(_line(_article()) + b"\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "show", str(source), "--serve", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+/", server.stdout.readline())
        assert url is not None
        with urllib.request.urlopen(url.group(0), timeout=10) as response:
            served = response.read().decode()
            assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert served == render_page(_article())
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=10) == 0
