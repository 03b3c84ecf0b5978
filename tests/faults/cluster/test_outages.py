"""Longer outages of the three-node cluster while articles flow (replication factor 3, min ISR 2,
acks=all): a rolling restart of every node, and two nodes down at once, when nothing may be written
until one comes back. Every input ends with exactly one outcome or dead letter. WIREPIPE_CLUSTER_FAULT_N
articles each (tests/faults/README.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.localkafka.cluster import LocalCluster
from tests.faults.cluster._flow import fault_run
from tests.workers import Deployment

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOWN_S = 30.0  # two nodes down this long; the first seconds are left for requests already on their way
SETTLE_S = 10.0


@pytest.mark.timeout(1_800)
def test_a_rolling_restart_of_every_node_while_articles_flow_loses_nothing(
    cluster: LocalCluster, cluster_deployment: Callable[..., Deployment], logs: Path
) -> None:
    steps: list[dict[str, object]] = []
    backlogs: list[int] = []
    with fault_run(cluster, cluster_deployment(), logs) as run:
        assert run.progress is not None and run.feeder is not None
        run.wait_fed(0.05)  # timed by the feed, which goes on at its own pace whatever the worker does
        rolling = time.monotonic()
        before = run.progress.count
        for node in cluster.running():
            # What was in flight when the node went: inputs acknowledged without an outcome yet.
            backlogs.append(run.backlog())
            step: dict[str, object] = {
                "node": node,
                "backlog": backlogs[-1],
                "feeding": run.feeder.is_alive(),
            }
            stopped = time.monotonic()
            cluster.stop_node(node)  # SIGTERM: a controlled shutdown moves its leaders first
            stop_s = time.monotonic() - stopped
            restart_s = cluster.start_node(node)
            in_sync_s = cluster.wait_healthy(run.topics.values(), timeout_s=300)
            step.update(
                stop_s=round(stop_s, 1),
                restart_s=round(restart_s, 1),
                in_sync_s=round(in_sync_s, 1),
                **run.progress.stall(stopped, time.monotonic()),
            )
            steps.append(step)
        rolled = time.monotonic()
        during = run.progress.count - before
        fed = run.feeder.acked_between(rolling, rolled)
        run.finish(
            "rolling_restart",
            steps=steps,
            roll_s=round(rolled - rolling, 1),
            records_during_roll=during,
            fed_during_roll=fed,
        )
    # Articles flowed in and out while the nodes restarted, and each node went down with work in hand.
    assert during > 0 and fed > 0
    assert min(backlogs) > 0, steps


@pytest.mark.timeout(1_800)
def test_two_nodes_down_stop_producers_and_the_worker_until_one_returns_and_nothing_is_lost(
    cluster: LocalCluster, cluster_deployment: Callable[..., Deployment], logs: Path
) -> None:
    with fault_run(cluster, cluster_deployment(), logs) as run:
        assert run.progress is not None and run.feeder is not None
        run.wait_fed(0.4)  # the feed still has most of its articles to send
        first, second = [n for n in cluster.running() if n != cluster.active_controller()][:2]
        killed = time.monotonic()
        backlog = run.backlog()
        cluster.kill(first)
        cluster.kill(second)
        time.sleep(DOWN_S)
        returning = time.monotonic()
        quiet = (killed + SETTLE_S, returning)
        fed_while_down = run.feeder.acked_between(*quiet)
        out_while_down = run.progress.at(returning) - run.progress.at(quiet[0])
        rejoin_s = cluster.start_node(first)
        live = time.monotonic()
        while (resumed_s := run.progress.resumed_after(live)) is None:
            assert time.monotonic() - live < 600, "no outcome 600 s after a node came back"
            time.sleep(1)
        fed_again = [t - live for t in list(run.feeder.acked_at) if t > returning]
        run.wait_for(0.6)
        second_s = cluster.start_node(second)
        in_sync_s = cluster.wait_healthy(run.topics.values(), timeout_s=300)
        run.finish(
            "two_nodes_down",
            nodes=[first, second],
            down_s=round(returning - killed, 1),
            backlog_at_kill=backlog,
            fed_while_down=fed_while_down,
            records_while_down=out_while_down,
            restart_s=round(rejoin_s, 1),
            records_again_s_after_node_live=resumed_s,
            feed_again_s_after_node_live=round(min(fed_again), 1) if fed_again else None,
            second_restart_s=round(second_s, 1),
            in_sync_s_after_both=round(in_sync_s, 1),
        )
    # The faults were real: articles were waiting to be produced and to be processed when the nodes died.
    assert fed_again and backlog > 0
    # min.insync.replicas 2 with one node of three: no write is acknowledged, by the feed or the worker.
    assert fed_while_down == 0
    assert out_while_down == 0
