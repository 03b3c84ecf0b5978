"""The ``server.properties`` of a local Kafka node: one node alone, or one voter of a ``LocalCluster``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The one SASL mechanism the optional authenticated listener offers (users are created at format time).
SCRAM_MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Quorum:
    """What the nodes of one cluster share: its id, its controller voters, and the replication its
    internal topics (consumer offsets, transactions) and new topics get by default."""

    cluster_id: str
    voters: str  # "1@127.0.0.1:<controller port>,2@..."
    replication_factor: int = 1
    min_insync_replicas: int = 1


def server_properties(
    *,
    node_id: int,
    port: int,
    controller_port: int | None,
    sasl_port: int | None,
    quorum: Quorum | None,
    log_dirs: Path,
    partitions: int,
    auto_create_topics: bool,
) -> dict[str, object]:
    """Properties of a combined broker + controller on 127.0.0.1 (``quorum`` None: a cluster of one).
    ``sasl_port`` adds a SCRAM-SHA-512 listener beside the plaintext one."""
    alone = quorum is None
    quorum = quorum or Quorum("", f"{node_id}@127.0.0.1:{controller_port}")
    replicas, min_isr = quorum.replication_factor, quorum.min_insync_replicas
    listeners = f"PLAINTEXT://127.0.0.1:{port}"
    protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    sasl: dict[str, object] = {}
    if sasl_port is not None:
        listeners += f",SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
        protocols += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
        sasl = {
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            f"listener.name.sasl_plaintext.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
        }
    return {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.quorum.voters": quorum.voters,
        "listeners": f"{listeners},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": listeners,
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": protocols,
        "log.dirs": log_dirs,
        "num.partitions": partitions,
        "auto.create.topics.enable": str(auto_create_topics).lower(),
        # Topics created without a replication factor, and Kafka's own internal topics, get the
        # cluster's (1 on one node); min.insync.replicas is the default of every topic.
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": 10,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "share.coordinator.state.topic.num.partitions": 10,
        # Consumers in tests join one at a time: do not wait 3 s for more members.
        "group.initial.rebalance.delay.ms": 0,
        # A crashed broker is fenced (its partitions led elsewhere; after a restart it may register
        # again) once its session expires: 9 s by default. One node: heartbeats stay in its process.
        # A cluster on a loaded machine gets a little more, so a slow heartbeat does not fence a node.
        "broker.heartbeat.interval.ms": 1000,
        "broker.session.timeout.ms": 4000 if alone else 6000,
        "num.io.threads": 4,
        "num.network.threads": 2,
        **sasl,
    }
