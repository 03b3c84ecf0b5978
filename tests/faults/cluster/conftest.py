"""The session's three-node Kafka cluster (its own module, beside the single-broker fixtures in
tests/conftest.py), handed to each test whole: every node running, a quorum leader, all brokers live."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.localkafka.broker import QUICK_START_JVM_ARGS
from pipeline.localkafka.cluster import LocalCluster
from tests.faults.cluster._flow import MIN_INSYNC, NODES
from tests.workers import Deployment


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[LocalCluster]:
    """Three KRaft nodes from the project's jars, started once. The quick-start JVM flags (C1 only,
    serial GC) halve the start and restart times (20-27 s against 49-50 s to start, 10-15 s against
    20-28 s per node restart, at load 12-25) and lower RSS (~280 against ~310 MiB per node); the
    tests' traffic is far below what C1-compiled code handles."""
    with LocalCluster(NODES, min_insync_replicas=MIN_INSYNC, jvm_args=QUICK_START_JVM_ARGS) as cluster:
        yield cluster


@pytest.fixture
def cluster(kafka_cluster: LocalCluster) -> Iterator[LocalCluster]:
    """The session cluster, whole at the start of the test and made whole again after it."""
    _heal(kafka_cluster)
    yield kafka_cluster
    _heal(kafka_cluster)


def _heal(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        if not node.running:
            node.start()
    cluster.wait_healthy(timeout_s=180)


@pytest.fixture
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this test's workers write their logs and data."""
    return tmp_path_factory.mktemp("cluster-faults")


@pytest.fixture
def cluster_deployment(cluster: LocalCluster) -> Callable[..., Deployment]:
    """Make a deployment on the cluster, its topics replicated on every node with min ISR 2."""

    def make(partitions: int = 4) -> Deployment:
        deployment = Deployment(bootstrap=cluster.bootstrap, partitions=partitions)
        deployment.extra_env.update(
            WIREPIPE_REPLICATION_FACTOR=str(NODES), WIREPIPE_MIN_INSYNC_REPLICAS=str(MIN_INSYNC)
        )
        deployment.wirepipe("topics")
        return deployment

    return make
