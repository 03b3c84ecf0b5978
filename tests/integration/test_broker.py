"""The broker the integration tests run against (``kafka_bootstrap`` from tests/conftest.py), and the
local Kafka launcher behind it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kafka.admin import KafkaAdminClient

from pipeline.localkafka.broker import QUICK_START_JVM_ARGS, LocalBroker
from tests.brokers import consume_all, create_topics, produce, unique_name

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_broker() -> Iterator[LocalBroker]:
    """A LocalBroker of this module's own, beside the session broker: restarting it disturbs no one."""
    with LocalBroker(jvm_args=QUICK_START_JVM_ARGS) as broker:
        yield broker


def test_broker_answers_a_metadata_request(kafka_bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    assert cluster["brokers"], cluster


def test_a_produced_record_is_consumed_back_with_its_key(kafka_bootstrap: str) -> None:
    topic = unique_name("roundtrip")
    create_topics(kafka_bootstrap, [topic], partitions=3)

    sent = produce(kafka_bootstrap, topic, [(b"article-1", b'{"headline": "Hello"}')])

    assert consume_all(kafka_bootstrap, topic, expected_count=1) == sent
    assert sent[0].key == b"article-1"


def test_records_with_one_key_land_in_one_partition_in_order(kafka_bootstrap: str) -> None:
    topic = unique_name("ordering")
    create_topics(kafka_bootstrap, [topic], partitions=3)

    produce(kafka_bootstrap, topic, [(b"same-key", str(n).encode()) for n in range(5)])

    records = consume_all(kafka_bootstrap, topic, expected_count=5)
    assert len({r.partition for r in records}) == 1
    assert [r.value for r in records] == [str(n).encode() for n in range(5)]


def test_consume_all_returns_what_is_there_without_waiting_when_nothing_more_is_expected(
    kafka_bootstrap: str,
) -> None:
    topic = unique_name("drain")
    create_topics(kafka_bootstrap, [topic], partitions=2)
    sent = produce(kafka_bootstrap, topic, [(b"a", b"1"), (b"b", b"2"), (b"c", b"3")])

    started = time.monotonic()
    records = consume_all(kafka_bootstrap, topic, expected_count=0, timeout_s=20)

    assert sorted(records) == sorted(sent)
    assert time.monotonic() - started < 10


def test_restart_keeps_topics_records_and_bootstrap(local_broker: LocalBroker) -> None:
    before = local_broker.bootstrap
    topic = unique_name("durable")
    create_topics(before, [topic], partitions=2)
    sent = produce(before, topic, [(f"k{n}".encode(), f"v{n}".encode()) for n in range(4)])
    pid = local_broker.pid

    local_broker.restart()

    assert local_broker.pid != pid
    assert local_broker.bootstrap == before
    assert consume_all(before, topic, expected_count=4) == sorted(sent, key=lambda r: (r.partition, r.offset))


def test_acknowledged_records_survive_a_broker_crash(local_broker: LocalBroker) -> None:
    topic = unique_name("crash")
    create_topics(local_broker.bootstrap, [topic])
    sent = produce(local_broker.bootstrap, topic, [(b"k", f"v{n}".encode()) for n in range(3)])

    local_broker.restart(hard=True)

    assert consume_all(local_broker.bootstrap, topic, expected_count=3) == sent


def test_local_broker_does_not_create_topics_on_first_use(local_broker: LocalBroker) -> None:
    topic = unique_name("never-created")
    admin = KafkaAdminClient(bootstrap_servers=local_broker.bootstrap)
    try:
        described = admin.describe_topics([topic])
        listed = admin.list_topics()
    finally:
        admin.close()
    assert described[0]["error_code"] != 0
    assert topic not in listed


def test_local_broker_writes_its_server_log(local_broker: LocalBroker) -> None:
    """Guards the slf4j binding in deploy/kafka/pom.xml: without it Kafka logs nothing at all."""
    assert "Kafka Server started" in local_broker.log_file.read_text()


def test_two_local_brokers_run_side_by_side(local_broker: LocalBroker) -> None:
    with LocalBroker(jvm_args=QUICK_START_JVM_ARGS) as second:
        assert second.bootstrap != local_broker.bootstrap
        topic = unique_name("second")
        create_topics(second.bootstrap, [topic])
        produce(second.bootstrap, topic, [(b"k", b"v")])
        assert len(consume_all(second.bootstrap, topic, expected_count=1)) == 1
    assert not second.running
    assert local_broker.running
