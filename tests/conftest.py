"""Session fixtures: one real Kafka broker for the whole test session (started only if a test needs it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import brokers


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real broker: WIREPIPE_KAFKA_BOOTSTRAP, else testcontainers, else the local Maven-jar broker."""
    with brokers.kafka_bootstrap() as servers:
        yield servers
