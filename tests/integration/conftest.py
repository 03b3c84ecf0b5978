"""Fixtures of the integration tests beside the session broker (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.shared_worker import SharedWorker, start_shared_worker
from tests.workers import Deployment, Worker


@pytest.fixture(scope="session")
def shared_worker(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedWorker]:
    """One worker for the session's tests that only produce and read outcomes (its first input is the
    observability batch: tests/integration/shared_worker.py)."""
    with start_shared_worker(kafka_bootstrap, tmp_path_factory.mktemp("shared-worker")) as shared:
        yield shared


@pytest.fixture(scope="session")
def deployment(shared_worker: SharedWorker) -> Deployment:
    """The shared worker's deployment; a module that needs a deployment of its own defines this fixture."""
    return shared_worker.deployment


@pytest.fixture(scope="session")
def worker(shared_worker: SharedWorker) -> Worker:
    """The shared worker; a module with workers of its own defines this fixture."""
    return shared_worker.worker
