"""The input model reads every ninjs shape real wire systems send, leniently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas.ninjs import RawArticle

DATA = Path(__file__).parent.parent / "data" / "ninjs"


def load(name: str) -> RawArticle:
    return RawArticle.model_validate(json.loads((DATA / name).read_text()))


def test_ninjs1_text_body_is_read_with_version_string_as_number() -> None:
    raw = load("v1_text.json")
    assert (raw.uri, raw.version, raw.body_kind) == ("urn:wirepipe:test:v1-text", 3, "text")
    assert raw.headline == "Harbour authority approves new ferry terminal"
    assert raw.byline == "By Ana Ruiz"
    assert raw.body is not None and raw.body.startswith("VALLETTA")
    assert raw.located == "Valletta" and raw.urgency == 4


def test_ninjs1_headline_main_and_html_body_and_association_object() -> None:
    raw = load("v1_html.json")
    assert raw.headline == "Rain delays grain harvest"
    assert raw.body_kind == "html"
    assert raw.associations == [{"name": "featureimage", "uri": "urn:img:1", "type": "picture"}]
    assert raw.renditions[0]["name"] == "thumbnail"


def test_ninjs2_main_body_preferred_over_summary_and_by_becomes_byline() -> None:
    raw = load("v2.json")
    assert raw.headline == "City council passes budget"
    assert raw.body_kind == "html" and raw.body is not None and "budget on Monday" in raw.body
    assert raw.byline == "Tom Lee"
    assert raw.embargoed == "2026-11-21T00:00:00Z"


def test_ninjs3_camel_case_keys_and_cancelled_spelling_are_normalised() -> None:
    raw = load("v3.json")
    assert raw.pubstatus == "canceled"
    assert raw.versioncreated == "2026-11-20T10:00:00Z"
    assert raw.body_kind == "text"  # contentType "plain" is not a MIME type, and is not HTML
    assert raw.byline == "Mia Chen, Raj Patel"


def test_guid_is_the_key_when_uri_is_missing_and_a_picture_has_no_body() -> None:
    raw = load("guid_picture.json")
    assert raw.uri == "urn:wirepipe:test:picture"
    assert raw.body is None and raw.type == "picture"


def test_missing_pubstatus_means_usable_and_unknown_fields_are_ignored() -> None:
    raw = RawArticle.model_validate({"uri": "u", "body_text": "x", "vendor": {"a": 1}})
    assert raw.pubstatus == "usable" and raw.version == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"body_text": "no key"},
        {"uri": "u", "version": "two"},
        {"uri": "u", "version": True},
        {"uri": "u", "pubstatus": 3},
        {"uri": "u", "body_text": ["not", "a", "string"]},
        {"uri": "u", "associations": "a string"},
        {"uri": 12},
    ],
)
def test_wrong_shapes_are_validation_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RawArticle.model_validate(bad)
