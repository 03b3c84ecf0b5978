"""A local Kafka cluster of N KRaft nodes (each broker + controller, all of them voters) from the same jars.

For fault tests and trying a replicated set-up by hand (``wirepipe broker --nodes 3``): replication
factor N for Kafka's own topics, ``min.insync.replicas`` N - 1 by default, nodes killed (SIGKILL),
stopped (SIGTERM) and started again one at a time, the leader of a partition and the active controller
found by asking the cluster.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import structlog

from pipeline.localkafka.broker import DEFAULT_JVM_ARGS, LocalBroker
from pipeline.localkafka.jars import DEFAULT_HOME, BrokerError, Jars
from pipeline.localkafka.process import PortTakenError, free_port, new_cluster_id, terminate
from pipeline.localkafka.properties import Quorum

log = structlog.get_logger(__name__)

T = TypeVar("T")
_BIND_RETRIES = 3
CONTROLLER_PORT_OFFSET = 10_000  # with fixed client ports: node i's controller listens on port_i + this


class LocalCluster:
    """``nodes`` Kafka nodes on 127.0.0.1 forming one KRaft quorum; every node is a broker and a voter.

    Without ``port`` the nodes take free ports and keep their data in a temporary folder removed by
    ``close()``; with ``port`` they listen on ``port``, ``port + 1``, ... and keep their data in
    ``home/cluster-<port>`` between runs. ``min_insync_replicas`` defaults to ``nodes - 1`` (2 of 3).
    """

    def __init__(
        self,
        nodes: int = 3,
        home: Path = DEFAULT_HOME,
        *,
        port: int | None = None,
        min_insync_replicas: int | None = None,
        java_heap: str = "512m",
        jvm_args: Sequence[str] = DEFAULT_JVM_ARGS,
        partitions: int = 3,
        console_level: str = "WARN",
        start_timeout_s: float = 180.0,
        stop_timeout_s: float = 30.0,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.size = nodes
        self.home = Path(home)
        self.jars = Jars(self.home)
        self.min_insync_replicas = min_insync_replicas or max(1, nodes - 1)
        if self.min_insync_replicas > nodes:
            raise ValueError(f"min.insync.replicas {self.min_insync_replicas} > {nodes} nodes")
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._fixed_port = port
        self._temp_dir: Path | None = None
        if port is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="wirepipe-kafka-cluster-"))
            self.data_dir = self._temp_dir
            # Each node's own finalizer stops its JVM; this removes the data if close() never runs.
            weakref.finalize(self, shutil.rmtree, self._temp_dir, True)
        else:
            self.data_dir = self.home / f"cluster-{port}"
        self._node_args: dict[str, Any] = {
            "java_heap": java_heap,
            "jvm_args": jvm_args,
            "partitions": partitions,
            "console_level": console_level,
            "start_timeout_s": start_timeout_s,
            "stop_timeout_s": stop_timeout_s,
        }
        self.nodes: list[LocalBroker] = []
        self.started_s: float | None = None  # how long the last start() took

    # -- where things are -------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """Every node's ``host:port``, comma-separated (clients need one that answers)."""
        if not self.nodes:
            raise BrokerError("the cluster has no nodes yet: call start() first")
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> LocalBroker:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(f"no node {node_id} in {[n.node_id for n in self.nodes]}")

    def running(self) -> list[int]:
        """Ids of the nodes whose JVM runs."""
        return [node.node_id for node in self.nodes if node.running]

    def cpu_seconds(self) -> float:
        """CPU seconds all nodes' JVMs used so far, restarts included."""
        return sum(node.cpu_seconds() for node in self.nodes)

    def rss_bytes(self) -> dict[int, int]:
        """Resident memory of each node's JVM."""
        return {node.node_id: node.rss_bytes() for node in self.nodes}

    # -- start and stop ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Launch every node, then wait until all are live brokers and the quorum has a leader."""
        if self.nodes and all(node.running for node in self.nodes):
            return self
        self.jars.ensure()
        started = time.monotonic()
        for attempt in range(1, _BIND_RETRIES + 1):
            if not self.nodes:
                self.nodes = self._make_nodes()
            for node in self.nodes:
                node.launch()
            try:
                for node in self.nodes:
                    node.wait_ready()
            except PortTakenError:
                self._stop_all()
                if self._fixed_port is not None or attempt == _BIND_RETRIES:
                    raise
                shutil.rmtree(self.data_dir, ignore_errors=True)  # never started: new ports, new quorum
                self.nodes = []
                continue
            except BaseException:
                self._stop_all()
                raise
            break
        self.wait_healthy(timeout_s=self.start_timeout_s)
        self.started_s = time.monotonic() - started
        log.info(
            "kafka.cluster.started",
            nodes=self.size,
            bootstrap=self.bootstrap,
            seconds=round(self.started_s, 1),
        )
        return self

    def _make_nodes(self) -> list[LocalBroker]:
        ids = range(1, self.size + 1)
        if self._fixed_port is not None:
            ports = {i: self._fixed_port + i - 1 for i in ids}
            controllers = {i: port + CONTROLLER_PORT_OFFSET for i, port in ports.items()}
        else:
            taken: list[int] = []
            for _ in range(2 * self.size):
                taken.append(free_port(besides=tuple(taken)))
            ports = {i: taken[i - 1] for i in ids}
            controllers = {i: taken[self.size + i - 1] for i in ids}
        voters = ",".join(f"{i}@127.0.0.1:{controllers[i]}" for i in ids)
        quorum = Quorum(self._cluster_id(), voters, self.size, self.min_insync_replicas)
        return [
            LocalBroker(
                self.home,
                port=ports[i],
                controller_port=controllers[i],
                data_dir=self.data_dir / f"node-{i}",
                node_id=i,
                quorum=quorum,
                **self._node_args,
            )
            for i in ids
        ]

    def _cluster_id(self) -> str:
        """The id the data was formatted with (kept with the data), else a new one."""
        path = self.data_dir / "cluster-id"
        if path.is_file():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = new_cluster_id()
        path.write_text(cluster_id + "\n")
        return cluster_id

    def stop(self) -> None:
        """SIGTERM to every node at once, SIGKILL to any still running after the timeout. Keeps data.

        All at once: a node stopped last, after the others, would wait for a quorum that is gone."""
        self._stop_all()
        log.info("kafka.cluster.stopped", nodes=self.size)

    def _stop_all(self) -> None:
        procs = [node._runtime.proc for node in self.nodes]
        for proc in procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + self.stop_timeout_s
        for proc in procs:
            if proc is not None:
                terminate(proc, max(0.1, deadline - time.monotonic()))
        for node in self.nodes:
            node.stop()  # the process has exited: closes its output file

    def close(self) -> None:
        """Stop, and delete the data if it lived in a temporary folder."""
        self.stop()
        for node in self.nodes:
            node.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- faults -----------------------------------------------------------------------------------

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: no controlled shutdown, its partitions move once its session expires."""
        self.node(node_id).kill()
        log.info("kafka.cluster.node_killed", node_id=node_id)

    def stop_node(self, node_id: int) -> None:
        """SIGTERM one node: a controlled shutdown hands its partitions' leadership on first."""
        self.node(node_id).stop()

    def start_node(self, node_id: int) -> float:
        """Start a stopped node on its ports and data; returns seconds until it is a live broker again."""
        started = time.monotonic()
        self.node(node_id).start()
        return time.monotonic() - started

    # -- questions to the cluster -----------------------------------------------------------------

    def admin(self) -> Any:
        """A kafka-python admin client on the live nodes (close it)."""
        from kafka.admin import KafkaAdminClient  # noqa: PLC0415 - kafka-python only where asked

        live = [node.bootstrap for node in self.nodes if node.running] or [self.nodes[0].bootstrap]
        return KafkaAdminClient(
            bootstrap_servers=live, request_timeout_ms=10_000, client_id="wirepipe-cluster-probe"
        )

    def ask(self, question: Callable[[Any], T], timeout_s: float = 30.0) -> T:
        """``question(admin)`` on the live nodes. A request can reach a node that just died (the metadata
        still lists it) or an election under way: such failures are asked again until ``timeout_s``."""
        from kafka.errors import KafkaError  # noqa: PLC0415

        deadline = time.monotonic() + timeout_s
        while True:
            admin = None
            try:
                admin = self.admin()
                return question(admin)
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
            finally:
                if admin is not None:
                    admin.close()
            time.sleep(0.3)

    def brokers(self) -> set[int]:
        """Ids of the brokers the cluster's metadata lists as live (registered, not fenced)."""
        found = self.ask(lambda admin: admin.describe_cluster()["brokers"])
        return {int(b["broker_id"]) for b in found}

    def active_controller(self) -> int | None:
        """The quorum leader (the active controller), or None while there is none."""
        quorum = self.ask(lambda admin: admin.describe_metadata_quorum())
        leader = int(quorum["topics"][0]["partitions"][0]["leader_id"])
        return leader if leader >= 0 else None

    def partitions(self, topics: Iterable[str]) -> dict[tuple[str, int], dict[str, Any]]:
        """(topic, partition) -> leader, replicas and in-sync replicas, from the cluster's metadata."""
        names = list(topics)
        described = self.ask(lambda admin: admin.describe_topics(names))
        out: dict[tuple[str, int], dict[str, Any]] = {}
        for topic in described:
            for p in topic.get("partitions") or ():  # none for a topic that does not exist
                out[(topic["name"], int(p["partition_index"]))] = {
                    "leader": int(p["leader_id"]),
                    "replicas": sorted(p["replica_nodes"]),
                    "isr": sorted(p["isr_nodes"]),
                }
        return out

    def leader_of(self, topic: str, partition: int) -> int | None:
        """The node that leads a partition, or None while it has no leader."""
        leader = self.partitions([topic])[(topic, partition)]["leader"]
        return int(leader) if leader >= 0 else None

    def wait_healthy(self, topics: Iterable[str] = (), timeout_s: float = 120.0) -> float:
        """Wait until every node is a live broker, the quorum has a leader and every partition of
        ``topics`` has all its replicas in sync; returns the seconds it took."""
        started = time.monotonic()
        names = list(topics)
        want = {node.node_id for node in self.nodes}
        last: object = None
        while time.monotonic() - started < timeout_s:
            try:
                live = self.brokers()
                controller = self.active_controller()
                lagging = {
                    tp: p
                    for tp, p in (self.partitions(names) if names else {}).items()
                    if p["isr"] != p["replicas"]
                }
                if live == want and controller is not None and not lagging:
                    return time.monotonic() - started
                last = {
                    "live": sorted(live),
                    "controller": controller,
                    "out_of_sync": list(lagging.items())[:3],
                }
            except Exception as exc:  # a node still starting, an election under way: ask again
                last = repr(exc)
            time.sleep(0.5)
        raise BrokerError(f"the cluster is not healthy after {timeout_s:.0f} s: {last}")
