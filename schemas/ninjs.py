"""Input model: IPTC ninjs articles as wire systems send them (1.x, 2.x and 3.x shapes), read leniently.

Unknown fields are ignored (providers add their own). Every shape is normalised into one flat
``RawArticle`` so the stages never see which ninjs version an item came in.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BodyKind = Literal["text", "html"]

# pubstatus values we act on; anything else is kept as sent and treated as usable (documented in README).
KNOWN_PUBSTATUS = ("usable", "withheld", "canceled")

_HTML_BODY_KEYS = ("body_html", "body_xhtml", "body_richtext")
_TEXT_BODY_KEYS = ("body_text", "body_main")
_CAMEL = {
    "versionCreated": "versioncreated",
    "pubStatus": "pubstatus",
    "firstCreated": "firstcreated",
    "contentCreated": "contentcreated",
    "headlineMain": "headline_main",
    "bodyText": "body_text",
    "bodyHtml": "body_html",
    "bodyXhtml": "body_xhtml",
    "edNote": "ednote",
}


def _first_str(value: Any) -> str | None:
    """A non-empty string, or the ``value`` of the first usable entry of a list of objects."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list):
        for item in value:
            found = _first_str(item.get("value") if isinstance(item, dict) else item)
            if found:
                return found
    return None


def _body_from_bodies(bodies: Any) -> tuple[str, BodyKind] | None:
    """Pick the main body from a ninjs 2.x/3.x ``bodies`` array; prefer role main, then html over text."""
    if not isinstance(bodies, list):
        return None
    candidates: list[tuple[int, str, BodyKind]] = []
    for body in bodies:
        if not isinstance(body, dict):
            continue
        value = body.get("value")
        if not isinstance(value, str) or not value.strip():
            continue
        ctype = str(body.get("contenttype") or body.get("contentType") or "").lower()
        kind: BodyKind = "html" if ("html" in ctype or "xml" in ctype or "rich" in ctype) else "text"
        role = str(body.get("role") or "main").lower()
        rank = 0 if role in ("main", "body", "") else 1
        candidates.append((rank, value, kind))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])
    return candidates[0][1], candidates[0][2]


class RawArticle(BaseModel):
    """One wire item after shape normalisation. Only ``uri`` is required here; a missing body is the
    cleaning stage's concern (it gets a coded outcome, not a validation error)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    uri: str = Field(min_length=1, max_length=2048)
    version: int = 1
    pubstatus: str = "usable"
    type: str = "text"
    language: str | None = None
    headline: str | None = None
    byline: str | None = None
    body: str | None = None
    body_kind: BodyKind = "text"
    url: str | None = None
    versioncreated: str | None = None
    firstcreated: str | None = None
    embargoed: str | None = None
    expires: str | None = None
    urgency: int | None = None
    located: str | None = None
    ednote: str | None = None
    subjects: list[dict[str, Any]] = Field(default_factory=list)
    associations: list[dict[str, Any]] = Field(default_factory=list)
    renditions: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _normalise_shape(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("a ninjs item must be a JSON object")
        d: dict[str, Any] = {_CAMEL.get(str(k), str(k)): v for k, v in data.items()}
        out: dict[str, Any] = {}
        uri = d.get("uri") or d.get("guid")
        out["uri"] = uri
        for key in (
            "version",
            "pubstatus",
            "type",
            "language",
            "url",
            "versioncreated",
            "firstcreated",
            "embargoed",
            "expires",
            "urgency",
            "ednote",
        ):
            if d.get(key) is not None:
                out[key] = d[key]
        out["headline"] = (
            _first_str(d.get("headline"))
            or _first_str(d.get("headline_main"))
            or _first_str(d.get("headlines"))
        )
        out["byline"] = _first_str(d.get("byline")) or _byline_from_by(d.get("by"))
        out["located"] = _first_str(d.get("located")) or _located_name(d.get("located"))
        body = _body_from_fields(d)
        if body is None and isinstance(d.get("body"), str):  # an already-normalised article
            body = d["body"], d.get("body_kind") or "text"
        if body is not None:
            out["body"], out["body_kind"] = body
        out["subjects"] = _as_object_list(d.get("subjects") or d.get("subject"))
        out["associations"] = _as_object_list(d.get("associations"))
        out["renditions"] = _as_object_list(d.get("renditions"))
        return out

    @field_validator("version", mode="before")
    @classmethod
    def _version_number(cls, value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("version must be a number or a numeric string")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        raise ValueError("version must be a number or a numeric string")

    @field_validator("pubstatus", mode="before")
    @classmethod
    def _pubstatus(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("pubstatus must be a string")
        status = value.strip().lower()
        return "canceled" if status == "cancelled" else status or "usable"

    @field_validator("urgency", mode="before")
    @classmethod
    def _urgency(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value


def _byline_from_by(by: Any) -> str | None:
    """ninjs 2.x ``by`` is a string; some systems send a list of people objects instead."""
    if isinstance(by, str):
        return by.strip() or None
    if isinstance(by, list):
        names = [p.get("name") for p in by if isinstance(p, dict) and isinstance(p.get("name"), str)]
        names += [p for p in by if isinstance(p, str)]
        return ", ".join(n for n in names if n) or None
    return None


def _located_name(located: Any) -> str | None:
    if isinstance(located, dict):
        name = located.get("name")
        return name if isinstance(name, str) else None
    return None


def _body_from_fields(d: dict[str, Any]) -> tuple[str, BodyKind] | None:
    """Bodies in order of preference: rich 1.x fields, plain 1.x fields, 2.x ``bodies``, then a whole page."""
    for key in _HTML_BODY_KEYS:
        if isinstance(d.get(key), str) and d[key].strip():
            return d[key], "html"
    for key in _TEXT_BODY_KEYS:
        if isinstance(d.get(key), str) and d[key].strip():
            return d[key], "text"
    from_bodies = _body_from_bodies(d.get("bodies"))
    if from_bodies is not None:
        return from_bodies
    for key in _HTML_BODY_KEYS + _TEXT_BODY_KEYS:
        if d.get(key) is not None and not isinstance(d[key], str):
            raise ValueError(f"{key} must be a string")
    if d.get("bodies") is not None and not isinstance(d["bodies"], list):
        raise ValueError("bodies must be an array")
    if isinstance(d.get("html"), str) and d["html"].strip():
        return d["html"], "html"
    return None


def _as_object_list(value: Any) -> list[dict[str, Any]]:
    """``associations``/``renditions`` come as an object keyed by name or as an array; kept as a list."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [
            {"name": name, **item} if isinstance(item, dict) else {"name": name, "value": item}
            for name, item in value.items()
        ]
    if isinstance(value, list):
        return [item if isinstance(item, dict) else {"value": item} for item in value]
    raise ValueError("expected an object or an array")
