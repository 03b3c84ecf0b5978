"""pipeline/stages/changes: what an update changed, on records built by hand (no model, no broker)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.stages.changes import (
    STORY_RETENTION_S,
    StorySnapshot,
    compute_changes,
    diff_paragraphs,
    expired,
    quote_fates,
    quote_key,
    quote_retractions,
    quote_withdrawals,
    snapshot_of,
    track,
)
from schemas.records import EnrichedArticle, Entity, Mention, Paragraph, Quote, RemovedText, Span

URI = "urn:test:story"
LEDE = (
    "Militants killed 12 people in an attack on a market in the north of the country on Sunday, police said."
)
SECOND = (
    "The attack came a week after a similar raid on a village near the border with the neighbouring state."
)
THIRD = "Officials said the market had been closed for two days before the attack because of security fears."
QUOTE = "We will find those responsible and bring them to justice"
QUOTED = f"“{QUOTE},” the interior minister Ana Lima said in a statement after visiting the scene."


def _record(
    paragraphs: Sequence[str],
    *,
    version: int = 2,
    outcome: str = "update",
    headline: str = "Attack on market kills 12",
    quotes: Sequence[tuple[str, str | None, int, str | None]] = (),
    entities: Sequence[tuple[str, str, str, Sequence[int]]] = (),
    removed: Sequence[tuple[str, str]] = (),
    **fields: Any,
) -> EnrichedArticle:
    """A published record: ``quotes`` as (text, speaker, paragraph, entity id), ``entities`` as (id, name,
    label, paragraphs mentioning it), ``removed`` as (text, reason)."""
    spans, pos = [], 0
    for text in paragraphs:
        spans.append(Paragraph(start=pos, end=pos + len(text)))
        pos += len(text) + 2
    body = "\n\n".join(paragraphs)
    return EnrichedArticle(
        outcome=outcome,  # type: ignore[arg-type]
        id=URI,
        version=version,
        headline=headline,
        body=body,
        paragraphs=spans,
        quotes=[
            Quote(text=t, spans=[Span(start=0, end=1)], paragraph=p, speaker=s, speaker_entity_id=e)
            for t, s, p, e in quotes
        ],
        entities=[
            Entity(
                id=i,
                name=n,
                label=lab,
                mentions=[
                    Mention(start=spans[p].start, end=spans[p].start + 1, text=n[:1], part="body") for p in ps
                ],
                count=max(1, len(ps)),
                first_start=spans[ps[0]].start if ps else 0,
            )
            for i, n, lab, ps in entities
        ],
        removed=[RemovedText(text=t, reason=r, before_paragraph=0) for t, r in removed],
        processed_at=datetime(2025, 1, 1, tzinfo=UTC),
        **fields,
    )


def _snapshot(record: EnrichedArticle, now: float = 1_000.0) -> StorySnapshot:
    return snapshot_of(record, [quote_key(q, record.id) for q in record.quotes], now)


def _v1(paragraphs: Sequence[str], **kw: Any) -> StorySnapshot:
    return _snapshot(_record(paragraphs, version=1, outcome="enriched", **kw))


BIDEN = ("We will hold all those responsible to account", "Joe Biden", 0, "PERSON:joe-biden")


# --- paragraphs and words ----------------------------------------------------------------------------------


def test_the_same_text_is_no_change() -> None:
    """A re-sent story with the same paragraphs reports nothing, and says so."""
    changes = compute_changes(_v1([LEDE, SECOND]), _record([LEDE, SECOND]))
    assert changes.paragraphs_added == changes.paragraphs_removed == changes.paragraphs_edited == []
    assert changes.summary == "no change to the text"


def test_a_rewritten_paragraph_is_an_edit_aligned_to_the_paragraph_it_replaces() -> None:
    """A paragraph whose words mostly stay is one edit of its old paragraph, with the words that changed."""
    new = SECOND.replace("a week after", "ten days after")
    changes = compute_changes(_v1([LEDE, SECOND]), _record([LEDE, new]))
    [edit] = changes.paragraphs_edited
    assert (edit.old_index, edit.new_index, edit.old_count, edit.new_count) == (1, 1, 1, 1)
    assert [(w.op, w.old, w.new) for w in edit.words] == [("replace", "a week", "ten days")]
    assert changes.paragraphs_added == changes.paragraphs_removed == []


def test_a_number_changed_in_an_edited_paragraph_is_reported_with_the_words_around_it() -> None:
    """ "killed 12 people" -> "killed 15 people": the number, the two words before it and the unit after."""
    changes = compute_changes(_v1([LEDE]), _record([LEDE.replace("12", "15")]))
    [number] = changes.numbers
    assert (number.before, number.old, number.new, number.after, number.paragraph) == (
        "Militants killed",
        "12",
        "15",
        "people",
        0,
    )
    assert "Militants killed 12 -> 15 people" in changes.summary


def test_numbers_are_compared_as_written_with_separators_decimals_and_per_cents() -> None:
    """'1,200' -> '1,250', '3.5' -> '4', '12%' -> '14%' are three number changes, paired in order."""
    old = "Prices rose 12% and 1,200 jobs went as output fell 3.5 pct in the year to March, the agency said."
    new = "Prices rose 14% and 1,250 jobs went as output fell 4 pct in the year to March, the agency said."
    changes = compute_changes(_v1([old]), _record([new]))
    assert [(n.old, n.new) for n in changes.numbers] == [("12%", "14%"), ("1,200", "1,250"), ("3.5", "4")]


def test_the_same_time_of_day_written_another_way_is_no_changed_number() -> None:
    """'9:40 A.M.' and '0940 hrs' are one time: the paragraph is edited, no number changed."""
    old = "The quake, which struck at 9:40 A.M. (0040 GMT), was felt in Tokyo, some 240 km to the south."
    new = "The quake, which struck at 0940 hrs (0040 GMT), was felt in Tokyo, some 240 km to the south."
    changes = compute_changes(_v1([old]), _record([new]))
    assert len(changes.paragraphs_edited) == 1
    assert changes.numbers == []


def test_an_unrelated_paragraph_in_the_same_place_is_a_removal_and_an_addition() -> None:
    """Below the edit threshold two paragraphs are not one edit: the old is removed, the new added."""
    changes = compute_changes(_v1([LEDE, SECOND]), _record([LEDE, THIRD]))
    assert [p.text for p in changes.paragraphs_removed] == [SECOND]
    assert [(p.index, p.text) for p in changes.paragraphs_added] == [(1, THIRD)]
    assert changes.paragraphs_edited == []


def test_paragraphs_split_or_merged_without_other_change_are_no_change() -> None:
    """An editor's new paragraph break moves no words: nothing is reported."""
    changes = compute_changes(_v1([f"{LEDE} {SECOND}", THIRD]), _record([LEDE, SECOND, THIRD]))
    assert changes.summary == "no change to the text"


def test_a_split_paragraph_with_a_changed_word_is_one_edit_over_both_halves() -> None:
    """An old paragraph split in two with a word changed is one edit spanning the two new paragraphs."""
    changes = compute_changes(
        _v1([f"{LEDE} {SECOND}"]), _record([LEDE, SECOND.replace("similar", "comparable")])
    )
    [edit] = changes.paragraphs_edited
    assert (edit.old_index, edit.old_count, edit.new_index, edit.new_count) == (0, 1, 0, 2)
    assert [(w.old, w.new) for w in edit.words] == [("similar", "comparable")]


def test_a_paragraph_moved_without_change_is_no_change() -> None:
    """The same paragraph higher up is no removal and addition (the alignment itself keeps order)."""
    assert compute_changes(_v1([LEDE, SECOND, THIRD]), _record([LEDE, THIRD, SECOND])).summary == (
        "no change to the text"
    )


def test_quote_marks_dashes_and_letter_case_are_no_edit() -> None:
    """Curly for straight quotes, an en dash for a hyphen and capitals are typography, not an edit."""
    old = 'He said "we will win" - and left the hall to cheers from the crowd of supporters outside.'
    new = "He said “We will win” – and left the hall to cheers from the crowd of supporters outside."
    assert diff_paragraphs([old], [new]).edited == []


def test_a_paragraph_added_between_unchanged_ones_is_reported_at_its_new_index() -> None:
    """Insertions keep their place: index 1 in the new version."""
    changes = compute_changes(_v1([LEDE, THIRD]), _record([LEDE, SECOND, THIRD]))
    assert [(p.index, p.text) for p in changes.paragraphs_added] == [(1, SECOND)]
    assert changes.summary == "+1 paragraph"


def test_a_headline_change_carries_both_headlines() -> None:
    """The old and the new headline, and 'headline changed' in the summary."""
    changes = compute_changes(_v1([LEDE]), _record([LEDE], headline="Attack on market kills 15"))
    assert changes.headline is not None
    assert (changes.headline.old, changes.headline.new) == (
        "Attack on market kills 12",
        "Attack on market kills 15",
    )
    assert changes.summary == "headline changed"


# --- quotes ------------------------------------------------------------------------------------------------


def test_without_a_previous_version_every_quote_is_added() -> None:
    fates = quote_fates(None, _record([LEDE], quotes=[BIDEN]))
    assert fates == (["added"], [])


def test_the_same_quote_by_the_same_speaker_is_unchanged() -> None:
    """Matched by its words, even when its place in the story moved."""
    previous = _v1([LEDE, SECOND], quotes=[BIDEN])
    record = _record([SECOND, LEDE], quotes=[(BIDEN[0], "Joe Biden", 1, "PERSON:joe-biden")])
    assert quote_fates(previous, record) == (["unchanged"], [])
    assert compute_changes(previous, record).quotes_reattributed == []


def test_the_same_words_attributed_to_another_speaker_are_reattributed() -> None:
    """Same text, another identified speaker: re-attributed, with both speakers and both keys."""
    previous = _v1([LEDE], quotes=[BIDEN])
    record = _record([LEDE], quotes=[(BIDEN[0], "Kamala Harris", 0, "PERSON:kamala-harris")])
    changes = compute_changes(previous, record)
    [moved] = changes.quotes_reattributed
    assert (moved.old_speaker, moved.new_speaker) == ("Joe Biden", "Kamala Harris")
    assert (moved.old_speaker_key, moved.new_speaker_key) == ("PERSON:joe-biden", "PERSON:kamala-harris")
    assert quote_fates(previous, record) == (["reattributed"], [])
    assert "quote re-attributed from Joe Biden to Kamala Harris" in changes.summary


@pytest.mark.parametrize("speaker", ["he", "the company", "a spokesman", None])
def test_a_speaker_that_is_not_identified_is_no_evidence_of_reattribution(speaker: str | None) -> None:
    """A pronoun, a description without a name, or no speaker at all: the quote is unchanged."""
    previous = _v1([LEDE], quotes=[BIDEN])
    record = _record([LEDE], quotes=[(BIDEN[0], speaker, 0, None)])
    assert quote_fates(previous, record).current == ["unchanged"]


def test_a_speaker_whose_name_was_spelt_right_is_the_same_speaker() -> None:
    """'Paul Boatang' corrected to 'Paul Boateng' is no re-attribution."""
    previous = _v1([LEDE], quotes=[(QUOTE, "Paul Boatang", 0, "PERSON:paul-boatang")])
    record = _record([LEDE], quotes=[(QUOTE, "Paul Boateng", 0, "PERSON:paul-boateng")])
    assert quote_fates(previous, record).current == ["unchanged"]


def test_a_lightly_edited_quote_is_the_same_quote() -> None:
    """Most words kept (one word changed in a long quote): the same quote, not removed and added."""
    previous = _v1([LEDE], quotes=[(QUOTE, "Ana Lima", 0, "PERSON:ana-lima")])
    record = _record([LEDE], quotes=[(QUOTE.replace("find", "track down"), "Ana Lima", 0, "PERSON:ana-lima")])
    assert quote_fates(previous, record) == (["unchanged"], [])


def test_a_quote_gone_from_the_story_is_removed_and_its_index_retracted() -> None:
    """compute_changes and quote_fates agree: the previous index of the gone quote is retracted."""
    other = ("There is no place for such violence in our country", "Ana Lima", 1, "PERSON:ana-lima")
    previous = _v1([LEDE, QUOTED], quotes=[BIDEN, other])
    record = _record([LEDE, SECOND], quotes=[BIDEN])
    changes = compute_changes(previous, record)
    assert [(q.index, q.text, q.speaker_key) for q in changes.quotes_removed] == [
        (1, other[0], "PERSON:ana-lima")
    ]
    assert quote_fates(previous, record) == (["unchanged"], [1])


def test_retractions_go_to_every_slot_whose_quote_or_key_changed_with_what_became_of_it() -> None:
    """[A, B, C] -> [A, C]: slot 1 (B) retracted as gone, slot 2 (C) retracted as moved ('unchanged');
    slot 0 keeps A under the same key and is replaced in place."""
    a = ("Alpha quote words for the first speaker here", "Ann Ames", 0, "PERSON:ann-ames")
    b = ("Bravo quote words for the second speaker here", "Bob Bell", 0, "PERSON:bob-bell")
    c = ("Charlie quote words for the third speaker here", "Cy Cole", 0, "PERSON:cy-cole")
    previous = _v1([LEDE], quotes=[a, b, c])
    record = _record([LEDE], quotes=[a, c])
    got = [(r.version, r.index, r.speaker_key, r.status) for r in quote_retractions(previous, record)]
    assert got == [(1, 1, "PERSON:bob-bell", "retracted"), (1, 2, "PERSON:cy-cole", "unchanged")]


def test_a_reattributed_quote_is_retracted_under_its_old_speaker_key() -> None:
    """The old speaker's followers learn the quote is no longer theirs."""
    previous = _v1([LEDE], quotes=[BIDEN])
    record = _record([LEDE], quotes=[(BIDEN[0], "Kamala Harris", 0, "PERSON:kamala-harris")])
    got = [(r.index, r.speaker_key, r.status) for r in quote_retractions(previous, record)]
    assert got == [(0, "PERSON:joe-biden", "reattributed")]


def test_a_withdrawn_story_retracts_every_quote_of_its_last_version() -> None:
    previous = _v1([LEDE], quotes=[BIDEN, (QUOTE, "Ana Lima", 0, None)])
    got = [(r.version, r.index, r.speaker_key, r.status) for r in quote_withdrawals(previous)]
    assert got == [(1, 0, "PERSON:joe-biden", "retracted"), (1, 1, "name:Ana Lima", "retracted")]


# --- entities ----------------------------------------------------------------------------------------------


def test_an_entity_named_only_in_an_added_paragraph_is_added() -> None:
    previous = _v1([LEDE], entities=[("GPE:north", "North", "GPE", [0])])
    record = _record(
        [LEDE, QUOTED],
        entities=[("GPE:north", "North", "GPE", [0]), ("PERSON:ana-lima", "Ana Lima", "PERSON", [1])],
    )
    changes = compute_changes(previous, record)
    assert [(e.id, e.name) for e in changes.entities_added] == [("PERSON:ana-lima", "Ana Lima")]
    assert changes.entities_removed == []


def test_an_entity_gone_with_a_removed_paragraph_is_removed() -> None:
    previous = _v1([LEDE, QUOTED], entities=[("PERSON:ana-lima", "Ana Lima", "PERSON", [1])])
    changes = compute_changes(previous, _record([LEDE]))
    assert [e.id for e in changes.entities_removed] == ["PERSON:ana-lima"]


def test_an_entity_the_model_names_differently_in_unchanged_text_is_no_change() -> None:
    """Only entities in text that changed count: a new id in an unchanged paragraph is the model's doing."""
    previous = _v1([LEDE, SECOND], entities=[("ORG:police", "police", "ORG", [0])])
    record = _record(
        [LEDE, SECOND.replace("a week", "ten days")], entities=[("GPE:state", "state", "GPE", [0])]
    )
    changes = compute_changes(previous, record)
    assert changes.entities_added == changes.entities_removed == []


def test_an_entity_whose_name_grew_or_was_spelt_right_is_the_same_entity() -> None:
    """'Lima' -> 'Ana Lima', 'Sonoira' -> 'Sonora', 'Lac' labelled otherwise: no added or removed entity."""
    previous = _v1(
        [LEDE],
        entities=[
            ("PERSON:lima", "Lima", "PERSON", [0]),
            ("ORG:sonoira", "Sonoira", "ORG", [0]),
            ("PRODUCT:lac", "Lac", "PRODUCT", [0]),
        ],
    )
    record = _record(
        [LEDE.replace("police", "Ana Lima")],
        entities=[
            ("PERSON:ana-lima", "Ana Lima", "PERSON", [0]),
            ("ORG:sonora", "Sonora", "ORG", [0]),
            ("PERSON:lac", "Lac", "PERSON", [0]),
        ],
    )
    changes = compute_changes(previous, record)
    assert changes.entities_added == changes.entities_removed == []


def test_a_longer_name_of_another_kind_is_another_entity() -> None:
    """The city 'Manila' kept does not hide the 'Manila Stock Exchange' that went with its paragraph."""
    previous = _v1(
        [LEDE, SECOND],
        entities=[("GPE:manila", "Manila", "GPE", [0]), ("ORG:mse", "Manila Stock Exchange", "ORG", [1])],
    )
    record = _record([LEDE], entities=[("GPE:manila", "Manila", "GPE", [0])])
    assert [e.id for e in compute_changes(previous, record).entities_removed] == ["ORG:mse"]


# --- corrections -------------------------------------------------------------------------------------------


def test_a_corrected_headline_slug_flags_a_correction() -> None:
    changes = compute_changes(_v1([LEDE]), _record([LEDE], headline_slug="CORRECTED-"))
    assert changes.correction == ["headline slug CORRECTED"]
    assert changes.summary.startswith("correction")


def test_a_correction_note_cut_by_cleaning_flags_a_correction() -> None:
    note = "(Corrects paragraph 1 to show 15 killed, not 12)"
    changes = compute_changes(_v1([LEDE]), _record([LEDE], removed=[(note, "correction note")]))
    assert changes.correction == [f"note: {note}"]


def test_a_correction_note_inside_a_paragraph_flags_a_correction() -> None:
    """Older wires append '(corrects ...)' to the paragraph they fix."""
    changes = compute_changes(_v1([LEDE]), _record([f"{LEDE} (corrects day)"]))
    assert changes.correction == ["note: (corrects day)"]


def test_a_correcting_ednote_and_pubstatus_flag_a_correction() -> None:
    changes = compute_changes(
        _v1([LEDE]), _record([LEDE], ednote="Eds: CORRECTS spelling of name", pubstatus="corrected")
    )
    assert changes.correction == ["pubstatus corrected", "ednote: Eds: CORRECTS spelling of name"]


def test_a_correction_the_previous_version_already_carried_is_not_flagged_again() -> None:
    """An update of a corrected story keeps the note: it is not a new correction."""
    note = "(Corrects paragraph 1 to show 15 killed, not 12)"
    previous = _v1([LEDE], removed=[(note, "correction note")], headline_slug="CORRECTED-")
    record = _record([LEDE, SECOND], removed=[(note, "correction note")], headline_slug="CORRECTED-")
    assert compute_changes(previous, record).correction == []


def test_a_note_that_corrects_nothing_is_no_correction() -> None:
    changes = compute_changes(
        _v1([LEDE]), _record([LEDE], removed=[("(Updates with police comment)", "correction note")])
    )
    assert changes.correction == []


# --- summary -----------------------------------------------------------------------------------------------


def test_the_summary_reads_like_a_person_would_say_it() -> None:
    """One paragraph added, one number changed, one quote removed."""
    previous = _v1([LEDE, QUOTED], quotes=[(QUOTE, "Ana Lima", 1, "PERSON:ana-lima")])
    record = _record([LEDE.replace("12", "15"), QUOTED.replace(f"“{QUOTE},” the", "The"), THIRD])
    changes = compute_changes(previous, record)
    assert (
        changes.summary
        == "+1 paragraph, 2 paragraphs edited, Militants killed 12 -> 15 people, 1 quote removed"
    )


# --- snapshot and state ------------------------------------------------------------------------------------


def test_a_snapshot_survives_a_json_round_trip() -> None:
    """What the worker's table stores (JSON) is what it reads back after a restart or a rebalance."""
    record = _record(
        [LEDE, QUOTED], quotes=[BIDEN], entities=[("PERSON:joe-biden", "Joe Biden", "PERSON", [0])]
    )
    update = track(_v1([LEDE]), record, 2_000.0)
    stored = json.loads(json.dumps(update.snapshot.to_state()))
    assert StorySnapshot.from_state(stored) == update.snapshot
    assert StorySnapshot.from_state(update.snapshot.model_dump(mode="json")) == update.snapshot
    assert stored["quotes"][0]["speaker_key"] == "PERSON:joe-biden"
    assert stored["changes"]["previous_version"] == 1


def test_a_snapshot_written_by_a_later_release_is_still_read() -> None:
    """State is read across releases: unknown fields are ignored, not refused."""
    stored = _v1([LEDE]).model_dump(mode="json") | {"a_future_field": [1, 2]}
    assert StorySnapshot.model_validate(stored).version == 1


def test_snapshot_of_needs_one_key_per_quote() -> None:
    with pytest.raises(ValueError, match="quote keys"):
        snapshot_of(_record([LEDE], quotes=[BIDEN]), [], 0.0)


def test_track_gives_the_first_version_no_changes_and_every_quote_added() -> None:
    update = track(None, _record([LEDE], version=1, outcome="enriched", quotes=[BIDEN]), 0.0)
    assert update.record.changes is None
    assert (update.quote_status, update.retractions) == (["added"], [])
    assert update.snapshot.version == 1


def test_track_on_a_redelivery_re_emits_what_the_first_delivery_published() -> None:
    """The same version again (at-least-once, or a re-sent item): identical changes, statuses, retractions."""
    previous = _v1([LEDE, QUOTED], quotes=[BIDEN, (QUOTE, "Ana Lima", 1, "PERSON:ana-lima")])
    record = _record([LEDE.replace("12", "15")], quotes=[BIDEN])
    first = track(previous, record, 2_000.0)
    again = track(first.snapshot, record, 3_000.0)
    assert again.record.changes == first.record.changes
    assert (again.quote_status, again.retractions) == (first.quote_status, first.retractions)
    assert again.record.changes is not None and again.record.changes.numbers


def test_a_version_delivered_again_after_its_story_was_withdrawn_is_published_as_the_first_time() -> None:
    """The worker marks a withdrawn story instead of dropping it: its last version delivered again (its
    offset was not committed) gets the same changes and the story stays withdrawn; a new version starts
    afresh, with nothing left to retract."""
    previous = _v1([LEDE, QUOTED], quotes=[BIDEN, (QUOTE, "Ana Lima", 1, "PERSON:ana-lima")])
    record = _record([LEDE.replace("12", "15")], quotes=[BIDEN])
    first = track(previous, record, 2_000.0)
    withdrawn = first.snapshot.model_copy(update={"withdrawn": True})
    again = track(withdrawn, record, 3_000.0)
    assert again.record.changes == first.record.changes and again.record.changes is not None
    assert (again.quote_status, again.retractions) == (first.quote_status, first.retractions)
    assert again.snapshot == withdrawn
    later = track(withdrawn, _record([LEDE, SECOND], version=4, quotes=[BIDEN]), 4_000.0)
    assert later.record.changes is None and (later.quote_status, later.retractions) == (["added"], [])
    assert not later.snapshot.withdrawn


def test_track_keeps_the_newer_snapshot_when_an_older_version_arrives() -> None:
    newer = _snapshot(_record([LEDE, SECOND], version=3))
    update = track(newer, _record([LEDE], version=2), 0.0)
    assert update.snapshot == newer
    assert update.record.changes is None


def test_track_refuses_outcomes_that_publish_no_version() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        track(None, _record([LEDE], outcome="duplicate"), 0.0)


def test_expired_names_the_stories_older_than_the_retention() -> None:
    """Snapshots as models or as the JSON a table holds; the caller deletes the uris it is given."""
    now = 10 * 86_400.0
    fresh = _v1([LEDE]).model_copy(update={"saved_at": now - 60})
    stale = {"saved_at": now - STORY_RETENTION_S - 1}
    assert expired([("a", fresh), ("b", stale), ("c", fresh.model_dump(mode="json"))], now) == ["b"]
    assert expired([("a", fresh)], now, retention_s=30) == ["a"]
