"""Version and pubstatus handling: updates, re-deliveries, stale versions, kills and holds."""

from __future__ import annotations

from typing import Any

from pipeline.stages.versions import Action, check_version
from schemas.ninjs import RawArticle


def raw(version: int, pubstatus: str = "usable") -> RawArticle:
    return RawArticle(uri="u", version=version, pubstatus=pubstatus, body="text")


def run(*items: RawArticle) -> list[Action]:
    state: dict[str, Any] = {}
    actions = []
    for item in items:
        entry, action = check_version(state.get(item.uri), item)
        state[item.uri] = dict(entry)
        actions.append(action)
    return actions


def test_first_version_is_enriched_and_a_higher_one_is_an_update() -> None:
    assert run(raw(1), raw(2)) == [Action.ENRICH, Action.UPDATE]


def test_same_version_again_repeats_the_first_action() -> None:
    assert run(raw(1), raw(2), raw(2)) == [Action.ENRICH, Action.UPDATE, Action.UPDATE]


def test_lower_version_arriving_late_is_stale_and_does_not_override() -> None:
    assert run(raw(3), raw(2), raw(4)) == [Action.ENRICH, Action.STALE, Action.UPDATE]


def test_canceled_withdraws_and_a_later_usable_version_is_enriched_afresh() -> None:
    assert run(raw(1), raw(2, "canceled"), raw(3)) == [Action.ENRICH, Action.WITHDRAW, Action.ENRICH]


def test_withheld_holds_until_a_usable_version_arrives() -> None:
    assert run(raw(1, "withheld"), raw(2)) == [Action.WITHHOLD, Action.ENRICH]


def test_unknown_pubstatus_is_treated_as_usable() -> None:
    assert run(raw(1, "embargoed-by-desk")) == [Action.ENRICH]
