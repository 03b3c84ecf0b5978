"""The local three-node cluster itself, and the topics Wirepipe creates on it (no worker: ~1 min in all,
most of it the cluster's start, which the fault tests in this folder share)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kafka.admin import ConfigResource, ConfigResourceType
from structlog.testing import capture_logs

from pipeline.localkafka.cluster import LocalCluster
from pipeline.settings import Settings
from pipeline.stream.kafka_config import ensure_topics
from tests.brokers import consume_all, produce, unique_name
from tests.faults.cluster._flow import MIN_INSYNC, NODES
from tests.workers import Deployment

pytestmark = pytest.mark.integration


def test_the_cluster_answers_with_every_broker_and_a_quorum_leader(cluster: LocalCluster) -> None:
    assert cluster.brokers() == set(range(1, NODES + 1))
    assert cluster.active_controller() in range(1, NODES + 1)


def test_a_record_acknowledged_by_two_replicas_survives_the_sigkill_of_its_leader(
    cluster: LocalCluster,
) -> None:
    topic = unique_name("durable")
    admin = cluster.admin()
    try:
        admin.create_topics(
            {topic: {"num_partitions": 1, "replication_factor": NODES}},
            timeout_ms=30_000,
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    sent = produce(cluster.bootstrap, topic, [(b"k", b"acknowledged")])
    leader = cluster.leader_of(topic, 0)
    assert leader is not None
    cluster.kill(leader)
    deadline = time.monotonic() + 60
    while cluster.leader_of(topic, 0) in (None, leader):
        assert time.monotonic() < deadline, "no new leader"
        time.sleep(0.2)
    live = ",".join(cluster.node(n).bootstrap for n in cluster.running())
    assert consume_all(live, topic, expected_count=1) == sent
    cluster.start_node(leader)
    cluster.wait_healthy([topic])
    assert sorted(cluster.partitions([topic])[(topic, 0)]["isr"]) == list(range(1, NODES + 1))


def test_every_topic_wirepipe_creates_is_replicated_on_every_node_with_the_min_insync_setting(
    cluster: LocalCluster, cluster_deployment: Callable[..., Deployment]
) -> None:
    deployment = cluster_deployment(partitions=2)
    app = f"wirepipe-test-{deployment.run_id}"
    names = [
        *deployment.topics.values(),
        f"{app}.dedup",
        f"{app}.nlp",
        f"{app}-versions-changelog",
        f"{app}-dedup-index-changelog",
        f"{app}-stories-changelog",
        f"{app}-__assignor-__leader",
    ]
    partitions = cluster.partitions(names)
    assert {name for name, _ in partitions} == set(names)
    assert all(len(p["replicas"]) == NODES for p in partitions.values()), partitions
    admin = cluster.admin()
    try:
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs=None) for name in names]
        )
    finally:
        admin.close()
    insync = {name: values["min.insync.replicas"]["value"] for name, values in configs["topic"].items()}
    assert insync == dict.fromkeys(names, str(MIN_INSYNC))


def test_the_topics_command_refuses_a_replication_factor_the_cluster_cannot_hold(
    cluster: LocalCluster,
) -> None:
    deployment = Deployment(bootstrap=cluster.bootstrap, partitions=2)
    deployment.extra_env["WIREPIPE_REPLICATION_FACTOR"] = str(NODES + 1)
    done = deployment.run("topics")
    message = done.stderr.decode()
    assert done.returncode == 2, message
    assert f"WIREPIPE_REPLICATION_FACTOR={NODES + 1} needs that many brokers" in message
    assert f"has {NODES} live" in message
    assert "Traceback" not in message
    assert not set(deployment.topics.values()) & set(cluster.partitions(deployment.topics.values()))


def test_topics_are_checked_all_the_same_right_after_a_broker_died(
    cluster: LocalCluster, cluster_deployment: Callable[..., Deployment]
) -> None:
    """A worker starting right after a broker died (still in the metadata until its session expires, 6 s
    here) checks its topics all the same: a request its admin client sent to the dead node is asked again
    on a new client. Each client picks a node at random, so the check is repeated until one has hit the
    dead node (1 in 3 per call) or the node has left the metadata."""
    deployment = cluster_deployment(partitions=2)  # its topics exist
    topics = deployment.topics
    settings = Settings(
        kafka_bootstrap=cluster.bootstrap,
        app_id=deployment.env()["WIREPIPE_APP_ID"],
        topic_raw=topics["raw"],
        topic_enriched=topics["enriched"],
        topic_deadletter=topics["deadletter"],
        topic_quotes=topics["quotes"],
        partitions=deployment.partitions,
        replication_factor=NODES,
        min_insync_replicas=MIN_INSYNC,
    )
    dead = cluster.nodes[0].node_id
    cluster.kill(dead)
    killed = time.monotonic()
    calls = 0
    with capture_logs() as logged:
        while time.monotonic() - killed < 5 and not any(e["event"] == "topics.retry" for e in logged):
            assert ensure_topics(settings) == []  # nothing to create, and no error
            calls += 1
    retries = [e for e in logged if e["event"] == "topics.retry"]
    assert retries, f"no call of {calls} reached the dead node within 5 s"
    assert "ECONNREFUSED" in retries[0]["error"] or "Connection" in retries[0]["error"], retries[0]
    cluster.start_node(dead)
    cluster.wait_healthy(topics.values())
