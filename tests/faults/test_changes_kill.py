"""A worker killed (SIGKILL) between two versions of a story: its successor reads the story back from the
stories table's changelog and the update carries exactly the changes an uninterrupted worker gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_changes import as_uri, produce, wait_for
from tests.seed_versions import EXPECTED, V1, V2, what_changed
from tests.workers import Worker, deploy

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_worker_killed_between_the_versions_leaves_its_successor_the_same_changes(
    kafka_bootstrap: str, logs: Path
) -> None:
    deployment = deploy(kafka_bootstrap, partitions=4)
    worker = Worker(deployment, logs, name="w1")
    try:
        worker.wait_ready()
        produce(deployment, as_uri("it:seed-b", V1))
        wait_for(deployment, {("it:seed-b", 1)})
    finally:
        worker.kill()  # SIGKILL: no shutdown; the story is only in the stories table's changelog
    successor = Worker(deployment, logs, name="w2")
    try:
        successor.wait_ready()
        produce(deployment, as_uri("it:seed-b", V2))
        update = wait_for(deployment, {("it:seed-b", 2)})[("it:seed-b", 2)]
    finally:
        successor.stop()
    assert update["outcome"] == "update"
    assert what_changed(update["changes"]) == EXPECTED["changes"]
