"""Session fixtures: one real Kafka broker for the whole test session (started only if a test needs it), and
logging put back as it was after every test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from tests import brokers


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real broker: WIREPIPE_KAFKA_BOOTSTRAP, else testcontainers, else the local Maven-jar broker."""
    with brokers.kafka_bootstrap() as servers:
        yield servers


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A test that runs a command in-process (``pipeline.cli.main``) configures structlog and the root logger
    for the whole process, writing to that test's captured stderr, which pytest closes when the test ends:
    the next line logged in the session (a broker starting, an NLP process dying) would raise
    ``ValueError: I/O operation on closed file``. So each test leaves the configuration as it found it."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("kafka", "aiokafka")}
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, named_level in levels.items():
        logging.getLogger(name).setLevel(named_level)
