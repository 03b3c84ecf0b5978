"""Replication settings: the min ISR default and its bounds, the refusal of a replication factor the
cluster cannot hold, and the properties a node of a local cluster is started with."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from pipeline.localkafka.properties import Quorum, server_properties
from pipeline.settings import Settings
from pipeline.stream.kafka_config import TopicSetupError, check_replication, producer_options


@pytest.mark.parametrize(("replicas", "expected"), [(1, 1), (2, 1), (3, 2), (5, 4)])
def test_min_insync_replicas_defaults_to_one_less_than_the_replication_factor(
    replicas: int, expected: int
) -> None:
    assert Settings(replication_factor=replicas).insync_replicas == expected


def test_a_min_insync_above_the_replication_factor_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="WIREPIPE_MIN_INSYNC_REPLICAS=3 is more than"):
        Settings(replication_factor=2, min_insync_replicas=3)
    assert Settings(replication_factor=3, min_insync_replicas=3).insync_replicas == 3


def test_a_replication_factor_above_the_live_brokers_is_refused_with_what_to_change() -> None:
    settings = Settings(replication_factor=3, kafka_bootstrap="b1:9092,b2:9092")
    with pytest.raises(
        TopicSetupError, match=r"WIREPIPE_REPLICATION_FACTOR=3 needs that many brokers.*has 2 live"
    ):
        check_replication(settings, live_brokers=2)
    check_replication(settings, live_brokers=3)


def test_producers_wait_for_all_in_sync_replicas_and_are_idempotent() -> None:
    assert producer_options() == {"acks": "all", "enable_idempotence": True}


def test_a_cluster_node_knows_every_voter_and_replicates_kafkas_own_topics() -> None:
    voters = "1@127.0.0.1:1001,2@127.0.0.1:1002,3@127.0.0.1:1003"
    props = server_properties(
        node_id=2,
        port=9093,
        controller_port=1002,
        sasl_port=None,
        quorum=Quorum("cluster-id", voters, replication_factor=3, min_insync_replicas=2),
        log_dirs=Path("/data"),
        partitions=3,
        auto_create_topics=False,
    )
    assert props["controller.quorum.voters"] == voters
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:1002"
    assert props["node.id"] == 2
    for key in ("default.replication.factor", "offsets.topic.replication.factor"):
        assert props[key] == 3
    for key in ("min.insync.replicas", "transaction.state.log.min.isr"):
        assert props[key] == 2


def test_a_single_node_is_its_own_only_voter_with_replication_one() -> None:
    props = server_properties(
        node_id=1,
        port=9092,
        controller_port=1001,
        sasl_port=None,
        quorum=None,
        log_dirs=Path("/data"),
        partitions=3,
        auto_create_topics=False,
    )
    assert props["controller.quorum.voters"] == "1@127.0.0.1:1001"
    assert props["offsets.topic.replication.factor"] == 1 and props["min.insync.replicas"] == 1
