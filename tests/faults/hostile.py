"""Hostile messages drawn with hypothesis (fixed, derandomized), each checked offline to be definitely
invalid: ``ingest`` (decode, validate, clean; no NLP) must raise, with a code of the category's class."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pipeline.envelope import Limits, Source
from pipeline.errors import StageError

# category -> the error codes a message of that category may legitimately get
from pipeline.process import ingest

# category -> the error codes a message of that category may legitimately get
CLASSES: dict[str, frozenset[str]] = {
    "invalid_utf8": frozenset({"E_DECODE_UTF8"}),
    "truncated_json": frozenset({"E_DECODE_JSON"}),
    "null_bytes": frozenset({"E_DECODE_JSON", "E_DECODE_UTF8"}),
    "not_an_object": frozenset({"E_DECODE_JSON"}),
    "deep_json": frozenset({"E_DECODE_JSON"}),
    "huge_field": frozenset({"E_TOO_LARGE"}),
    "big_body": frozenset({"E_TOO_LARGE"}),
    "wrong_shape": frozenset({"E_VALIDATE"}),
    "missing_uri": frozenset({"E_VALIDATE"}),
    "no_body": frozenset({"E_NO_TEXT_BODY"}),
    "html_deep": frozenset({"E_CLEAN_HOSTILE"}),
    "html_attributes": frozenset({"E_CLEAN_EMPTY", "E_CLEAN_HOSTILE", "E_TOO_LARGE"}),
    "html_paragraphs": frozenset({"E_CLEAN_HOSTILE"}),
    "empty_after_clean": frozenset({"E_CLEAN_EMPTY"}),
}
# Big messages cost the broker and the worker memory, not coverage: a few of each is enough.
CAPS = {"huge_field": 4, "big_body": 6, "html_attributes": 40, "deep_json": 60, "html_deep": 60}
MB = 1_000_000
TEXT = "The central bank held rates on Thursday, its governor said in London."
# Fields pydantic validates (a wrong shape fails); headline and byline are read leniently instead.
TYPED_FIELDS = (
    "uri", "version", "pubstatus", "type", "language", "url", "versioncreated", "firstcreated",
    "embargoed", "expires", "urgency", "ednote", "guid",
)  # fmt: skip
BODY_FIELDS = ("body_text", "body_html", "body_xhtml", "body_richtext", "body_main")


@dataclass(frozen=True)
class Hostile:
    category: str
    value: bytes
    uri: str  # the Kafka key ("" when the message has none)
    code: str  # what ingest raised offline


def _article(uri: str, **fields: Any) -> dict[str, Any]:
    return {"uri": uri, "version": 1, "headline": "Rates held", "body_text": TEXT, **fields}


def _salted(text: str, p: dict[str, Any]) -> str:
    return f"{text} ({p.get('salt', 0)})"


def _dumps(data: Any) -> bytes:
    return json.dumps(data).encode()


wrong_values = st.one_of(
    st.dictionaries(st.text(max_size=5), st.integers(), min_size=1, max_size=3),
    st.lists(st.integers(), min_size=1, max_size=3),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.lists(st.lists(st.booleans(), min_size=1), min_size=1, max_size=2),
)
json_non_objects = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)
tags = st.sampled_from(["div", "span", "b", "table", "li", "section", "font", "p"])
bad_utf8 = st.sampled_from(
    [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82", b"\x80"]
)


@st.composite
def params(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A category and the drawn parameters of one hostile message (big content is built afterwards)."""
    category = draw(st.sampled_from(sorted(CLASSES)))
    # Hypothesis never repeats an example: a salt keeps categories with few shapes from running dry.
    salt = draw(st.integers(0, 10**9))
    p: dict[str, Any] = {}
    if category == "invalid_utf8":
        p = {
            "bad": draw(bad_utf8),
            "at": draw(st.integers(0, len(TEXT))),
            "field": draw(st.sampled_from(BODY_FIELDS)),
        }
    elif category in ("truncated_json", "null_bytes"):
        p = {"cut": draw(st.floats(0.0, 0.999)), "zeros": draw(st.integers(1, 4))}
    elif category == "not_an_object":
        p = {"value": draw(json_non_objects)}
    elif category == "deep_json":
        p = {"depth": draw(st.integers(1_030, 50_000)), "open": draw(st.sampled_from(["[", '{"a":']))}
    elif category == "huge_field":
        p = {
            "size": draw(st.integers(8_100_000, 10_500_000)),
            "field": draw(st.sampled_from(["body_text", "headline", "x_extra", "byline"])),
        }
    elif category == "big_body":
        p = {"size": draw(st.integers(2_000_100, 3_000_000)), "field": draw(st.sampled_from(BODY_FIELDS))}
    elif category == "wrong_shape":
        p = {"field": draw(st.sampled_from(TYPED_FIELDS + BODY_FIELDS)), "value": draw(wrong_values)}
    elif category == "missing_uri":
        p = {"how": draw(st.sampled_from(["absent", "empty", "null", "too_long"]))}
    elif category == "no_body":
        p = {
            "type": draw(st.sampled_from(["picture", "event", "graphic", "text"])),
            "empty": draw(st.booleans()),
        }
    elif category == "html_deep":
        p = {"depth": draw(st.integers(300, 30_000)), "tag": draw(tags)}
    elif category == "html_attributes":
        # Parsing cost grows faster than linearly with the attribute count (60k: ~7 s, 120k: ~34 s of
        # CPU on the worker's loop; see the README), so the bombs stay at <= 20k attributes here.
        p = {"count": draw(st.integers(2_000, 20_000)), "tag": draw(tags)}
    elif category == "html_paragraphs":
        p = {"count": draw(st.integers(2_050, 6_000))}
    else:  # empty_after_clean
        p = {
            "markup": draw(
                st.sampled_from(
                    [
                        "<script>var a=1;</script>",
                        "<style>p{}</style>",
                        "<br/><hr/>",
                        "<!-- note -->",
                        "<div><span></span></div>",
                    ]
                )
            )
        }
    return category, {**p, "salt": salt}


def build(category: str, p: dict[str, Any], uri: str) -> tuple[bytes, str]:
    """The message bytes and its Kafka key."""
    if category == "invalid_utf8":
        head, tail = TEXT[: p["at"]].encode(), TEXT[p["at"] :].encode()
        return b'{"uri": "' + uri.encode() + b'", "' + p["field"].encode() + b'": "' + head + p[
            "bad"
        ] + tail + b'"}', uri
    if category == "truncated_json":
        whole = _dumps(_article(uri))
        return whole[: max(1, int(len(whole) * p["cut"]))], uri
    if category == "null_bytes":
        whole = _dumps(_article(uri))
        at = int(len(whole) * p["cut"])
        return whole[:at] + b"\x00" * p["zeros"] + whole[at:], uri
    if category == "not_an_object":
        return _dumps(p["value"]), ""
    if category == "deep_json":
        close = "]" if p["open"] == "[" else "}"
        nested = p["open"] * p["depth"] + "1" + close * p["depth"]
        return ('{"uri": "' + uri + '", "body_text": "x", "x_nested": ' + nested + "}").encode(), uri
    if category == "huge_field":
        return _dumps(_article(uri, **{p["field"]: "word " * (p["size"] // 5)})), uri
    if category == "big_body":
        body = (
            ("<p>" + "word " * 200 + "</p>")
            if p["field"] in ("body_html", "body_xhtml", "body_richtext")
            else "word " * 200
        )
        return _dumps({"uri": uri, p["field"]: body * (p["size"] // len(body) + 1)}), uri
    if category == "wrong_shape":
        data = _article(uri)
        if p["field"] in BODY_FIELDS:
            data.pop("body_text")
        data[p["field"]] = p["value"]
        key = uri if p["field"] not in ("uri", "guid") else ""
        if p["field"] == "guid":
            data.pop("uri")
        return _dumps(data), key
    if category == "missing_uri":
        data = _article(uri, headline=_salted("Rates held", p))
        data.pop("uri")
        if p["how"] != "absent":
            data["uri"] = {"empty": "", "null": None, "too_long": "u" * 3_000}[p["how"]]
        return _dumps(data), ""
    if category == "no_body":
        data = {"uri": uri, "type": p["type"], "headline": _salted("A photo", p)}
        if p["empty"]:
            data["body_text"] = "   "
        return _dumps(data), uri
    if category == "html_deep":
        t = p["tag"]
        return _dumps({"uri": uri, "body_html": f"<{t}>" * p["depth"] + TEXT + f"</{t}>" * p["depth"]}), uri
    if category == "html_attributes":
        attrs = " ".join(f"a{i}='{i}'" for i in range(p["count"]))
        return _dumps({"uri": uri, "body_html": f"<{p['tag']} {attrs}></{p['tag']}>"}), uri
    if category == "html_paragraphs":
        return _dumps({"uri": uri, "body_html": "".join(f"<p>Para {i}.</p>" for i in range(p["count"]))}), uri
    return _dumps({"uri": uri, "headline": _salted("Empty", p), "body_html": p["markup"]}), uri


def offline_code(value: bytes) -> str | None:
    """The code ingest gives the message with default limits, or None when it would be processed."""
    try:
        ingest(Source(value=value, topic="offline", partition=0, offset=0), {}, Limits())
    except StageError as exc:
        return exc.code.value
    except Exception:  # a bug: the worker must dead-letter it as E_INTERNAL
        return "E_INTERNAL"
    return None


def hostile_messages(n: int, prefix: str = "hostile") -> list[Hostile]:
    """``n`` definitely-invalid messages, categories in turn, the same on every run (derandomized)."""
    drawn: list[tuple[str, dict[str, Any]]] = []

    @settings(
        max_examples=n * 3,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(params())
    def collect(example: tuple[str, dict[str, Any]]) -> None:
        drawn.append(example)

    collect()
    by_category: dict[str, list[dict[str, Any]]] = {c: [] for c in CLASSES}
    for category, p in drawn:
        by_category[category].append(p)
    out: list[Hostile] = []
    taken: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    while len(out) < n and any(by_category.values()):
        for category in sorted(CLASSES):
            if len(out) >= n or not by_category[category] or taken[category] >= CAPS.get(category, n):
                continue
            value, key = build(category, by_category[category].pop(0), f"{prefix}:{len(out)}")
            code = offline_code(value)
            if code is None:
                rejected[category] += 1  # processable after all: not hostile, not sent
                continue
            out.append(Hostile(category, value, key, code))
            taken[category] += 1
    assert len(out) == n, (len(out), taken, rejected)
    return out
