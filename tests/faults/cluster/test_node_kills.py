"""One node of the three-node cluster SIGKILLed while articles flow (replication factor 3, min ISR 2,
acks=all, idempotent producers): partition leaders move, the worker carries on, and every input ends
with exactly one outcome or dead letter. Each test feeds WIREPIPE_CLUSTER_FAULT_N corpus articles (500 at
7 a second in CI, 2,000 at 20 a second for a full run; tests/faults/README.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.localkafka.cluster import LocalCluster
from tests.faults.cluster._flow import busiest, fault_run, wait_new_leader
from tests.workers import Deployment

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(1_800)
def test_the_leaders_of_the_busiest_raw_and_nlp_partitions_killed_mid_stream_lose_nothing(
    cluster: LocalCluster, cluster_deployment: Callable[..., Deployment], logs: Path
) -> None:
    figures: dict[str, object] = {}
    backlogs: list[int] = []  # inputs acknowledged without an outcome yet, at each kill
    with fault_run(cluster, cluster_deployment(), logs) as run:
        for step, (topic_name, at, back_at) in enumerate((("raw", 0.2, 0.35), ("nlp", 0.5, 0.65))):
            run.wait_for(at)
            topic = run.topics[topic_name]
            partition = busiest(cluster.bootstrap, topic)
            leader = cluster.leader_of(topic, partition)
            assert leader is not None
            backlogs.append(run.backlog())
            killed = time.monotonic()
            cluster.kill(leader)
            moved_s = wait_new_leader(cluster, topic, partition, leader)
            run.wait_for(back_at)
            down_s = time.monotonic() - killed
            restart = run.restart_node(leader)
            assert run.progress is not None
            figures[f"kill{step + 1}"] = {
                "topic": topic_name,
                "partition": partition,
                "node": leader,
                "backlog_at_kill": backlogs[-1],
                "new_leader_s": moved_s,
                **run.progress.stall(killed, time.monotonic()),
                "down_s": round(down_s, 1),
                **restart,
            }
        run.finish("leader_kills", **figures)
    assert min(backlogs) > 0, figures  # each node died with articles in hand


@pytest.mark.timeout(1_800)
def test_the_active_controller_killed_mid_stream_loses_nothing(
    cluster: LocalCluster, cluster_deployment: Callable[..., Deployment], logs: Path
) -> None:
    with fault_run(cluster, cluster_deployment(), logs) as run:
        run.wait_for(0.3)
        controller = cluster.active_controller()
        assert controller is not None
        backlog = run.backlog()
        killed = time.monotonic()
        cluster.kill(controller)
        while (now := cluster.active_controller()) in (None, controller):
            assert time.monotonic() - killed < 120, "no new active controller in 120 s"
            time.sleep(0.2)
        elected_s = time.monotonic() - killed
        recovery = run.recover(controller, killed, 0.55)
        run.finish(
            "controller_kill",
            node=controller,
            new_controller=now,
            new_controller_s=round(elected_s, 1),
            backlog_at_kill=backlog,
            **recovery,
        )
    assert backlog > 0  # the controller died with articles in hand


@pytest.mark.timeout(1_800)
def test_a_broker_and_the_worker_killed_at_the_same_moment_lose_nothing(
    cluster: LocalCluster, cluster_deployment: Callable[..., Deployment], logs: Path
) -> None:
    with fault_run(cluster, cluster_deployment(), logs) as run:
        run.wait_for(0.3)
        topic = run.topics["nlp"]
        node = cluster.leader_of(topic, busiest(cluster.bootstrap, topic))
        assert node is not None
        backlog = run.backlog()
        killed = time.monotonic()
        run.kill_worker(run.workers[0])
        cluster.kill(node)
        replacement = run.worker("w2")
        replacement.wait_ready(timeout=300)
        ready_s = time.monotonic() - killed
        recovery = run.recover(node, killed, 0.5)
        run.finish(
            "broker_and_worker_kill",
            node=node,
            backlog_at_kill=backlog,
            replacement_ready_s=round(ready_s, 1),
            **recovery,
        )
    assert backlog > 0  # the two died with articles in hand
