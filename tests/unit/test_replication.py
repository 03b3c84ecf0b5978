"""Replication settings: the min ISR default and its bounds, the refusal of a replication factor the
cluster cannot hold, the topics set up and the retry of a request that met a dead broker, and the
properties a node of a local cluster is started with."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import kafka.admin
import pytest
from kafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from pydantic import ValidationError

from pipeline.localkafka.properties import Quorum, server_properties
from pipeline.settings import Settings
from pipeline.stream import kafka_config
from pipeline.stream.kafka_config import (
    TopicSetupError,
    check_replication,
    ensure_topics,
    producer_options,
    wanted_topics,
)


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


def test_the_topics_set_up_are_ours_the_internal_ones_the_changelogs_and_the_leader_topic() -> None:
    settings = Settings(app_id="a", partitions=5)
    wanted = wanted_topics(settings)
    assert set(wanted) == {
        settings.topic_raw,
        settings.topic_enriched,
        settings.topic_deadletter,
        settings.topic_quotes,
        "a.dedup",
        "a.nlp",
        "a-versions-changelog",
        "a-dedup-index-changelog",
        "a-stories-changelog",
        "a-__assignor-__leader",
    }
    assert wanted[settings.topic_enriched][1]["cleanup.policy"] == "compact"
    assert wanted["a.dedup"][0] == 1 and wanted["a.nlp"][0] == 5


class _Admin:
    """Stands in for kafka-python's admin client: each new client's ``list_topics`` raises the next
    planned error, or answers that every topic exists."""

    errors: ClassVar[list[Exception]] = []
    made: ClassVar[int] = 0

    def __init__(self, **_: Any) -> None:
        type(self).made += 1

    def list_topics(self) -> list[str]:
        if self.errors:
            raise self.errors.pop(0)
        return list(wanted_topics(Settings()))

    def close(self) -> None:
        pass


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> type[_Admin]:
    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", _Admin)
    monkeypatch.setattr(kafka_config.time, "sleep", lambda _s: None)
    _Admin.errors, _Admin.made = [], 0
    return _Admin


def test_a_request_that_met_a_dead_broker_is_asked_again_on_a_new_client(admin: type[_Admin]) -> None:
    admin.errors = [KafkaConnectionError("111 ECONNREFUSED"), KafkaConnectionError("111 ECONNREFUSED")]
    assert ensure_topics(Settings()) == []
    assert admin.made == 3


def test_an_error_that_no_retry_mends_is_raised_at_once(admin: type[_Admin]) -> None:
    admin.errors = [TopicAuthorizationFailedError("denied")]
    with pytest.raises(TopicAuthorizationFailedError):
        ensure_topics(Settings())
    assert admin.made == 1


def test_a_dead_broker_is_not_retried_past_the_deadline(admin: type[_Admin]) -> None:
    admin.errors = [KafkaConnectionError("111 ECONNREFUSED")] * 3
    with pytest.raises(KafkaConnectionError):
        ensure_topics(Settings(), retry_s=-1.0)
    assert admin.made == 1
