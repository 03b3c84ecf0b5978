"""Where the integration tests find a Kafka broker, and small helpers to use it.

``kafka_bootstrap()`` tries, in order:
1. ``WIREPIPE_KAFKA_BOOTSTRAP`` (any real cluster, e.g. ``docker compose up`` or a CI service);
2. the ``apache/kafka`` image through testcontainers, when a Docker engine answers (Podman's Docker API
   counts: ``eval "$(deploy/containers.sh env)"`` points ``DOCKER_HOST`` at it; where no registry answers,
   ``make containers`` builds the image as a local stand-in, docs/containers.md);
3. ``pipeline.localkafka.broker.LocalBroker``: a real Kafka JVM from Maven Central jars (java 17+, mvn).

``WIREPIPE_TEST_BROKER=container`` (or ``local``) insists on 2 (or 3) instead of falling back, so a run meant
to test the container path fails when there is no engine rather than quietly using the local broker.

tests/conftest.py needs only (the fixture keeps the name the integration tests ask for)::

    from tests import brokers

    @pytest.fixture(scope="session")
    def kafka_bootstrap() -> Iterator[str]:
        with brokers.kafka_bootstrap() as servers:
            yield servers
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from pipeline.localkafka.broker import LocalBroker
from pipeline.localkafka.process import free_port

ENV_BOOTSTRAP = "WIREPIPE_KAFKA_BOOTSTRAP"
ENV_CHOICE = "WIREPIPE_TEST_BROKER"  # auto (default), container or local
KAFKA_IMAGE = "apache/kafka:4.4.0"  # same version as deploy/kafka/pom.xml

log = logging.getLogger(__name__)


class Record(NamedTuple):
    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


@contextlib.contextmanager
def kafka_bootstrap() -> Iterator[str]:
    """Yield a bootstrap string for a reachable broker; stop whatever was started for it on exit."""
    configured = os.environ.get(ENV_BOOTSTRAP, "").strip()
    if configured:
        log.info("kafka: using %s=%s", ENV_BOOTSTRAP, configured)
        yield configured
        return
    choice = os.environ.get(ENV_CHOICE, "auto").strip() or "auto"
    if choice not in {"auto", "container", "local"}:
        raise ValueError(f"{ENV_CHOICE}={choice!r}: use auto, container or local")
    if choice == "container" or (choice == "auto" and _docker_available()):
        if not _docker_available():
            raise RuntimeError(
                f"{ENV_CHOICE}=container but no Docker engine answers at "
                f"DOCKER_HOST={os.environ.get('DOCKER_HOST', '(unset)')}: run `make containers` and "
                '`eval "$(deploy/containers.sh env)"`'
            )
        with _kafka_container() as servers:
            yield servers
        return
    with LocalBroker() as broker:
        log.info("kafka: local broker at %s, log %s", broker.bootstrap, broker.log_file)
        yield broker.bootstrap


def _docker_available() -> bool:
    """True when a Docker engine answers a ping (the CLI alone is not enough)."""
    try:
        from testcontainers.core.docker_client import DockerClient  # noqa: PLC0415 - optional here
    except ImportError:
        return False
    try:
        # testcontainers' client: it finds the engine the same way the container start will.
        return bool(DockerClient(timeout=3).client.ping())
    except Exception:  # any failure means "no engine": fall back to the local broker
        return False


@contextlib.contextmanager
def _kafka_container() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.docker_client import DockerClient  # noqa: PLC0415
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy  # noqa: PLC0415

    # Clients must reach the broker at the address it advertises, so the container listens on the
    # same port number that is published on the host.
    host = DockerClient().host()
    port = free_port()
    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(port, port)
        .with_envs(
            KAFKA_NODE_ID="1",
            KAFKA_PROCESS_ROLES="broker,controller",
            KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:29093",
            KAFKA_LISTENERS=f"PLAINTEXT://:{port},CONTROLLER://:29093",
            KAFKA_ADVERTISED_LISTENERS=f"PLAINTEXT://{host}:{port}",
            KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            KAFKA_INTER_BROKER_LISTENER_NAME="PLAINTEXT",
            KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
            KAFKA_NUM_PARTITIONS="3",
            KAFKA_AUTO_CREATE_TOPICS_ENABLE="false",
            KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
            KAFKA_OFFSETS_TOPIC_NUM_PARTITIONS="10",
            KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
            KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
            KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR="1",
            KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR="1",
            KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
        )
        .waiting_for(LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(120))
    )
    with container:
        servers = f"{host}:{port}"
        log.info("kafka: container %s at %s", KAFKA_IMAGE, servers)
        yield servers


def unique_name(prefix: str) -> str:
    """A topic or group name no other test (or earlier run against the same cluster) has used."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 1) -> None:
    """Create the topics and wait until every partition has a leader."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="wirepipe-tests")
    try:
        admin.create_topics(
            {name: {"num_partitions": partitions} for name in names},
            timeout_ms=30_000,
            wait_for_metadata=True,
        )
    finally:
        admin.close()


def produce(
    bootstrap: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes | None]],
    partition: int | None = None,
) -> list[Record]:
    """Send (key, value) pairs, acknowledged by the broker, and return where each one landed."""
    pairs = list(records)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    try:
        futures = [producer.send(topic, key=key, value=value, partition=partition) for key, value in pairs]
        producer.flush(timeout=30)
        metadata = [future.get(timeout=30) for future in futures]
        return [
            Record(key, value, meta.partition, meta.offset)
            for (key, value), meta in zip(pairs, metadata, strict=True)
        ]
    finally:
        producer.close(timeout=10)


def consume_all(bootstrap: str, topic: str, expected_count: int, timeout_s: float = 30.0) -> list[Record]:
    """Read ``topic`` from the beginning of every partition, without a consumer group.

    Stops once at least ``expected_count`` records arrived *and* everything that was in the topic
    when the call began has been read (so ``expected_count=0`` returns what is there now, and
    duplicates beyond the expected count show up), or when ``timeout_s`` passed. Returns the records
    in (partition, offset) order.
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, client_id="wirepipe-tests"
    )
    deadline = time.monotonic() + timeout_s
    try:
        partitions = _partitions(consumer, topic, deadline)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends: dict[TopicPartition, int] = consumer.end_offsets(partitions)
        records: list[Record] = []
        while time.monotonic() < deadline:
            caught_up = all(consumer.position(tp) >= end for tp, end in ends.items())
            if caught_up and len(records) >= expected_count:
                break
            batches: dict[Any, list[Any]] = consumer.poll(timeout_ms=200)
            for batch in batches.values():
                records.extend(Record(m.key, m.value, m.partition, m.offset) for m in batch)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def _partitions(consumer: KafkaConsumer, topic: str, deadline: float) -> list[TopicPartition]:
    while True:
        ids = consumer.partitions_for_topic(topic)
        if ids:
            return [TopicPartition(topic, p) for p in sorted(ids)]
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {topic!r} has no partitions in the broker's metadata")
        time.sleep(0.1)
