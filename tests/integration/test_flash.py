"""Flashes through a real worker on the session broker (issue 26): the issue's three items, a flash followed
by its first take, and an item emptied by furniture, produced together to the shared worker."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.brokers import consume_all
from tests.workers import Deployment, Worker

pytestmark = pytest.mark.integration

QUAKE = "Powerful earthquake strikes off northeastern Japan"
TSUNAMI = "Tsunami warning issued for northeastern Japan coast"
# The issue's three messages, byte for byte.
ISSUE = [
    b'{"uri":"urn:t:f4","version":1,"headline":"Powerful earthquake strikes off northeastern Japan",'
    b'"body_text":"Powerful earthquake strikes off northeastern Japan"}',
    b'{"uri":"urn:t:f6","version":1,"headline":"Powerful earthquake strikes off northeastern Japan",'
    b'"body_html":"<p>Powerful earthquake strikes off northeastern Japan</p>"}',
    b'{"uri":"urn:t:f5","version":1,"language":"nl","headline":"Rondvaartboot kapseist en zinkt in Boedapest,'
    b' zeker zeven doden","body_text":"Rondvaartboot kapseist en zinkt in Boedapest, zeker zeven doden"}',
]
# A flash under a uri of its own, then its first take (a higher version of the same uri).
FLASH = {"uri": "urn:t:f7", "version": 1, "headline": TSUNAMI, "body_text": f"URGENT: {TSUNAMI}"}
TAKE = {
    "uri": "urn:t:f7",
    "version": 2,
    "headline": TSUNAMI,
    "body_text": (
        "TOKYO (Reuters) - Japan issued a tsunami warning for its northeastern coast on Saturday after a "
        "powerful earthquake struck offshore, the Japan Meteorological Agency said."
    ),
}
EMPTY = {"uri": "urn:t:f8", "version": 1, "headline": QUAKE, "body_text": "Advertisement"}
EXPECTED = {("urn:t:f4", 1), ("urn:t:f6", 1), ("urn:t:f5", 1), ("urn:t:f7", 1), ("urn:t:f7", 2)}


@pytest.fixture(scope="module")
def published(deployment: Deployment, worker: Worker) -> tuple[dict[tuple[str, int], Any], list[Any]]:
    """Every message produced at once; the outcomes by (id, version) and the dead letters, once all came."""
    values = [*ISSUE, json.dumps(FLASH).encode(), json.dumps(TAKE).encode(), json.dumps(EMPTY).encode()]
    deployment.wirepipe("produce", "-", input_bytes=b"\n".join(values) + b"\n")
    deadline = time.monotonic() + 180
    while True:
        records = consume_all(deployment.bootstrap, deployment.topics["enriched"], 0, timeout_s=10)
        letters = consume_all(deployment.bootstrap, deployment.topics["deadletter"], 0, timeout_s=5)
        outcomes = [json.loads(r.value) for r in records if r.value is not None]
        by_version = {(o["id"], o["version"]): o for o in outcomes}
        dead = [json.loads(r.value) for r in letters]
        done = by_version.keys() >= EXPECTED and any(d["article_id"] == EMPTY["uri"] for d in dead)
        if done or time.monotonic() > deadline:
            assert worker.process.poll() is None, worker.log_tail()
            return by_version, dead
        time.sleep(1)


def test_the_issue_items_are_published_as_flashes_not_dead_letters(
    published: tuple[dict[tuple[str, int], Any], list[Any]],
) -> None:
    """Each of the issue's three items has a record on the enriched topic, flagged flash, its line the
    body."""
    by_version, dead = published
    for uri in ("urn:t:f4", "urn:t:f6", "urn:t:f5"):
        record = by_version[(uri, 1)]
        assert record["flash"] is True and record["body"] == record["headline"], record
        assert len(record["paragraphs"]) == 1
    assert not [d for d in dead if d["article_id"] in {"urn:t:f4", "urn:t:f6", "urn:t:f5"}]


def test_the_earthquake_flash_names_japan_and_its_copy_is_a_duplicate(
    published: tuple[dict[tuple[str, int], Any], list[Any]],
) -> None:
    """The text and HTML earthquake items carry the same words: whichever reaches dedup first is enriched
    and names Japan (GPE), the other is its duplicate, flagged flash too."""
    by_version, _ = published
    pair = [by_version[("urn:t:f4", 1)], by_version[("urn:t:f6", 1)]]
    [first] = [r for r in pair if r["outcome"] == "enriched"]
    [copy] = [r for r in pair if r["outcome"] == "duplicate"]
    assert ("Japan", "GPE") in {(e["name"], e["label"]) for e in first["entities"]}
    assert copy["duplicate"]["duplicate_of"] == first["id"] and copy["flash"] is True


def test_the_dutch_flash_is_enriched_without_english_ner(
    published: tuple[dict[tuple[str, int], Any], list[Any]],
) -> None:
    """The Dutch flash is enriched as ``nl``, with no entities and the non-English reason."""
    record = published[0][("urn:t:f5", 1)]
    assert (record["outcome"], record["language"], record["entities"]) == ("enriched", "nl", [])
    assert record["reason"] == "language nl: no English NER or quotes"


def test_the_first_take_after_a_flash_is_its_update(
    published: tuple[dict[tuple[str, int], Any], list[Any]],
) -> None:
    """A flash (slug cut) then version 2 under its uri: ``enriched`` flash, then an ``update`` that is not."""
    flash, take = published[0][("urn:t:f7", 1)], published[0][("urn:t:f7", 2)]
    assert (flash["outcome"], flash["flash"], flash["body"]) == ("enriched", True, TSUNAMI)
    assert [(r["text"], r["reason"]) for r in flash["removed"]] == [("URGENT:", "wire slug")]
    assert (take["outcome"], take["flash"]) == ("update", False)


def test_an_item_emptied_by_furniture_alone_is_still_a_dead_letter(
    published: tuple[dict[tuple[str, int], Any], list[Any]],
) -> None:
    """A body that is only furniture is E_CLEAN_EMPTY on the dead-letter topic, not a flash."""
    by_version, dead = published
    assert [d["error_code"] for d in dead if d["article_id"] == EMPTY["uri"]] == ["E_CLEAN_EMPTY"]
    assert (EMPTY["uri"], 1) not in by_version
