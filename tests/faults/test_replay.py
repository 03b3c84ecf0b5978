"""Dead-letter replay: ``wirepipe replay`` re-sends chosen dead letters (by code, by offset range) to the
raw topic. Articles dead-lettered E_TOO_LARGE under a small body limit on one worker are enriched after
replay by a worker with the default limit; unselected dead letters stay where they are."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.stream.replay import Selection
from schemas.records import DeadLetter
from tests.brokers import consume_all
from tests.faults._support import corpus
from tests.workers import Deployment, Worker

SMALL_LIMIT = 600


def _letter(code: str) -> DeadLetter:
    return DeadLetter(
        error_code=code, stage="clean", message="m", original_b64="", failed_at=datetime.now(UTC)
    )


def test_selection_by_code_partition_and_inclusive_offset_range() -> None:
    selection = Selection(codes=frozenset({"E_TOO_LARGE"}), partition=1, from_offset=5, to_offset=7)
    assert selection.matches(_letter("E_TOO_LARGE"), 1, 5)
    assert selection.matches(_letter("E_TOO_LARGE"), 1, 7)
    assert not selection.matches(_letter("E_TOO_LARGE"), 1, 8)
    assert not selection.matches(_letter("E_TOO_LARGE"), 0, 6)
    assert not selection.matches(_letter("E_VALIDATE"), 1, 6)
    assert Selection().matches(_letter("E_VALIDATE"), 3, 0)


def _records(deployment: Deployment, topic: str, at_least: int) -> list[dict[str, Any]]:
    found = consume_all(deployment.bootstrap, deployment.topics[topic], at_least, timeout_s=300)
    return [json.loads(r.value) | {"_p": r.partition, "_o": r.offset} for r in found if r.value is not None]


def _replay(deployment: Deployment, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        deployment.wirepipe("replay", *args).decode().strip().splitlines()[-1]
    )
    return result


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_replayed_dead_letters_reach_the_output_once_their_cause_is_fixed(
    new_deployment: Callable[..., Deployment], logs: Path
) -> None:
    articles = [a for a in corpus() if len(a.get("body_text") or a.get("body_html") or "") > 2 * SMALL_LIMIT][
        :2
    ]
    big = [json.dumps({**a, "uri": f"replay:{n}"}).encode() for n, a in enumerate(articles)]
    small = json.dumps({"uri": "replay:small", "body_text": "Rates were held on Thursday."}).encode()
    broken = b'{"uri": "replay:broken", '
    deployment = new_deployment(partitions=2)
    deployment.extra_env["WIREPIPE_MAX_BODY_BYTES"] = str(SMALL_LIMIT)
    strict = Worker(deployment, logs, "strict")
    try:
        strict.wait_ready(timeout=300)
        deployment.wirepipe("produce", "-", input_bytes=b"\n".join([*big, small, broken]) + b"\n")
        letters = _records(deployment, "deadletter", 3)
        assert _records(deployment, "enriched", 1)[0]["id"] == "replay:small"
    finally:
        strict.stop()
    too_large = sorted(
        (d for d in letters if d["error_code"] == "E_TOO_LARGE"),
        key=lambda d: base64.b64decode(d["original_b64"]),
    )
    assert [base64.b64decode(d["original_b64"]) for d in too_large] == sorted(big)
    assert sum(d["error_code"] == "E_DECODE_JSON" for d in letters) == 1

    deployment.extra_env.pop("WIREPIPE_MAX_BODY_BYTES")
    fixed = Worker(deployment, logs, "fixed")
    try:
        fixed.wait_ready(timeout=300)
        assert _replay(deployment, "--code", "E_TOO_LARGE", "--dry-run")["replayed"] == 2
        first = too_large[0]
        one = (
            "--partition",
            str(first["_p"]),
            "--from-offset",
            str(first["_o"]),
            "--to-offset",
            str(first["_o"]),
        )
        assert _replay(deployment, "--code", "E_TOO_LARGE", *one)["replayed"] == 1
        first_uri = json.loads(base64.b64decode(first["original_b64"]))["uri"]
        enriched = _records(deployment, "enriched", 2)
        assert [r["outcome"] for r in enriched if r["id"] == first_uri] == ["enriched"]
        assert _replay(deployment, "--code", "E_TOO_LARGE") == {"replayed": 2, "by_code": {"E_TOO_LARGE": 2}}
        enriched = _records(deployment, "enriched", 4)
        letters_after = _records(deployment, "deadletter", 3)
    finally:
        fixed.stop()
    outcomes = {r["id"]: r for r in enriched}
    assert {outcomes[f"replay:{n}"]["outcome"] for n in range(2)} == {"enriched"}
    assert outcomes["replay:0"]["entities"], "the replayed article went through NLP"
    # Replaying the first one again re-emitted the same outcome (idempotent), nothing else moved.
    again = [r for r in enriched if r["id"] == first_uri]
    assert len(again) == 2 and again[0]["entities"] == again[1]["entities"]
    assert len(letters_after) == 3, "no new dead letters: only E_TOO_LARGE was replayed"
