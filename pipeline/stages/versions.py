"""Versions and publication status of one story (``uri``): new, update, re-delivery, stale, kill, hold.

Pure: the caller keeps the per-uri state (a dict offline, a Faust table keyed by uri in the worker)
and passes the previous entry in; the stage returns the new entry and the action to take.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypedDict

from schemas.ninjs import RawArticle


class Action(StrEnum):
    """What the worker does with an incoming version."""

    ENRICH = "enriched"  # first usable version of a story
    UPDATE = "update"  # a higher version of a story already published
    STALE = "stale"  # an older version arriving late: never overrides
    WITHDRAW = "withdrawn"  # pubstatus canceled: retract what was published
    WITHHOLD = "withheld"  # pubstatus withheld: publish nothing enriched until usable again


class VersionEntry(TypedDict):
    """Per-uri state: the highest version seen, its status, and the outcome it was given."""

    version: int
    pubstatus: str
    action: str
    published: bool


def check_version(prev: dict[str, Any] | None, raw: RawArticle) -> tuple[VersionEntry, Action]:
    """Decide what an incoming (uri, version) means given the story's previous entry.

    A re-delivery of the same (uri, version) gets the same action as the first delivery, so the
    worker re-emits the same outcome under the same key: at-least-once with idempotent outcomes.
    """
    status = raw.pubstatus
    if prev is not None and raw.version < int(prev["version"]):
        return VersionEntry(**prev), Action.STALE  # type: ignore[typeddict-item]
    if prev is not None and raw.version == int(prev["version"]) and status == prev["pubstatus"]:
        return VersionEntry(**prev), Action(prev["action"])  # type: ignore[typeddict-item]

    was_published = bool(prev and prev.get("published"))
    if status == "canceled":
        action = Action.WITHDRAW
    elif status == "withheld":
        action = Action.WITHHOLD
    elif was_published:
        action = Action.UPDATE
    else:
        # usable, or an unknown status: treated as usable (documented in the README)
        action = Action.ENRICH
    published = action in (Action.ENRICH, Action.UPDATE)
    return VersionEntry(
        version=raw.version, pubstatus=status, action=action.value, published=published
    ), action
