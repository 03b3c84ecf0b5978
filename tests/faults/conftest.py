"""Fixtures of the fault tests: a fresh deployment (own app id and topics) on the session broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.workers import Deployment


@pytest.fixture
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this test's workers write their logs and data."""
    return tmp_path_factory.mktemp("faults")


@pytest.fixture
def new_deployment(kafka_bootstrap: str) -> Callable[..., Deployment]:
    """Make a deployment on the session broker with its topics created."""

    def make(partitions: int = 4, bootstrap: str | None = None, **extra_env: str) -> Deployment:
        deployment = Deployment(bootstrap=bootstrap or kafka_bootstrap, partitions=partitions)
        deployment.extra_env.update(extra_env)
        deployment.wirepipe("topics")
        return deployment

    return make
