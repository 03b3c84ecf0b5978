"""What the cluster fault tests share: a paced idempotent feeder, a progress timeline read in the
background, the busiest partitions, and one run's set-up and accounting."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from pipeline.localkafka.cluster import LocalCluster
from tests.faults._support import (
    MAX_REQUEST,
    Input,
    Ledger,
    Watch,
    article_stream,
    assert_exactly_one_outcome_each,
    consumer_events,
    env_int,
    report,
)
from tests.workers import Deployment, Worker

NODES = 3
MIN_INSYNC = 2
# The CI size: a ~70 s feed, slower than one worker enriches here, so each fault lands while articles are
# still coming in and some are in hand. A full run: WIREPIPE_CLUSTER_FAULT_N=2000 and
# WIREPIPE_CLUSTER_FEED_PER_S=20 (about what one worker enriches here: the backlog grows to ~1,300).
ARTICLES = env_int("WIREPIPE_CLUSTER_FAULT_N", 500)
FEED_PER_S = float(env_int("WIREPIPE_CLUSTER_FEED_PER_S", 7))


class Feeder(threading.Thread):
    """Produces the inputs in order, ``per_s`` a second, acks=all and idempotent, as a news feed would;
    keeps where each landed and when each was acknowledged. Sends wait (up to 10 minutes) rather than
    fail while the cluster cannot take them, so nothing needs sending twice."""

    def __init__(self, bootstrap: str, topic: str, inputs: list[Input], per_s: float) -> None:
        super().__init__(daemon=True, name="feeder")
        self.topic, self.inputs, self.per_s = topic, inputs, per_s
        self.acked_at: list[float] = []
        self.partitions: Counter[int] = Counter()
        self.errors: list[str] = []
        self._metas: list[Any] = []
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap.split(","),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=MAX_REQUEST,
            request_timeout_ms=30_000,
            delivery_timeout_ms=600_000,
            max_block_ms=600_000,
        )

    def _acked(self, meta: Any) -> None:
        self.acked_at.append(time.monotonic())
        self.partitions[meta.partition] += 1

    def _failed(self, exc: BaseException) -> None:
        self.errors.append(repr(exc))

    def run(self) -> None:
        started = time.monotonic()
        for n, item in enumerate(self.inputs):
            future = self._producer.send(self.topic, key=item.uri.encode(), value=item.value)
            future.add_callback(self._acked).add_errback(self._failed)
            self._metas.append(future)
            ahead = started + (n + 1) / self.per_s - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        self._producer.flush(timeout=600)

    def produced(self, timeout_s: float = 600) -> list[Input]:
        """Wait for the feed to end; every input with its partition and offset."""
        self.join(timeout_s)
        assert not self.is_alive(), "the feeder did not finish"
        self._producer.close(timeout=10)
        assert not self.errors, self.errors[:3]
        metas = [future.get(timeout=1) for future in self._metas]
        return [
            Input(i.value, i.uri, i.version, i.out_key, i.kind, m.partition, m.offset)
            for i, m in zip(self.inputs, metas, strict=True)
        ]

    def acked_between(self, start: float, end: float) -> int:
        return sum(1 for t in list(self.acked_at) if start <= t < end)


class Progress(threading.Thread):
    """Reads a deployment's outcome and dead-letter topics in the background: (time, records so far)."""

    def __init__(self, watch: Watch) -> None:
        super().__init__(daemon=True, name="progress")
        self.watch = watch
        self.samples: list[tuple[float, int]] = [(time.monotonic(), 0)]
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            count = self.watch.count(1.0)
            self.samples.append((time.monotonic(), count))

    @property
    def count(self) -> int:
        return self.samples[-1][1]

    def at(self, moment: float) -> int:
        """Records read by ``moment``."""
        return max((n for t, n in self.samples if t <= moment), default=0)

    def wait_for(self, n: int, timeout_s: float, workers: list[Worker]) -> int:
        deadline = time.monotonic() + timeout_s
        while self.count < n:
            for w in workers:
                assert w.process.poll() is None, f"worker died: {w.log_tail()}"
            assert time.monotonic() < deadline, f"only {self.count} of {n} records after {timeout_s:.0f} s"
            time.sleep(0.5)
        return self.count

    def resumed_after(self, moment: float, by: int = 10) -> float | None:
        """Seconds from ``moment`` until ``by`` more records than at that moment had been read."""
        base = self.at(moment)
        return next((round(t - moment, 1) for t, n in self.samples if t > moment and n >= base + by), None)

    def stall(self, start: float, end: float) -> dict[str, float]:
        """The longest time within [start, end] in which no new record arrived, and how long after
        ``start`` records came again (the recovery)."""
        longest, ended, last_change, last_n = 0.0, start, start, self.at(start)
        for t, n in self.samples:
            if start < t <= end and n > last_n:
                if t - last_change > longest:
                    longest, ended = t - last_change, t
                last_change, last_n = t, n
        if end - last_change > longest:
            longest, ended = end - last_change, end
        return {"longest_stall_s": round(longest, 1), "records_again_s": round(ended - start, 1)}

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def busiest(bootstrap: str, topic: str) -> int:
    """The partition of ``topic`` holding the most records now."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=None, enable_auto_commit=False)
    try:
        deadline = time.monotonic() + 30
        while not (ids := consumer.partitions_for_topic(topic)):
            assert time.monotonic() < deadline, f"{topic} has no partitions"
            time.sleep(0.2)
        ends: dict[TopicPartition, int] = consumer.end_offsets([TopicPartition(topic, p) for p in ids])
        return max(ends, key=lambda tp: ends[tp]).partition
    finally:
        consumer.close()


def replication(cluster: LocalCluster, run_id: str) -> dict[str, tuple[int, str]]:
    """Every topic on the cluster whose name holds ``run_id`` (the deployment's public topics, and the
    internal, changelog and leader topics its workers had made by now, whoever created them): its
    replication factor (the fewest replicas of any partition) and ``min.insync.replicas``."""
    names = sorted(n for n in cluster.ask(lambda admin: admin.list_topics()) if run_id in n)
    replicas: dict[str, int] = {}
    for (name, _), p in cluster.partitions(names).items():
        replicas[name] = min(replicas.get(name, NODES), len(p["replicas"]))
    wanted = [
        ConfigResource(ConfigResourceType.TOPIC, name, configs=["min.insync.replicas"]) for name in names
    ]
    configs = cluster.ask(lambda admin: admin.describe_configs(wanted))["topic"]
    return {name: (replicas[name], configs[name]["min.insync.replicas"]["value"]) for name in names}


def wait_new_leader(
    cluster: LocalCluster, topic: str, partition: int, old: int, timeout_s: float = 120
) -> float:
    """Seconds until a node other than ``old`` leads the partition."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            leader = cluster.leader_of(topic, partition)
        except Exception:  # the node asked may be the one that just died
            leader = None
        if leader is not None and leader != old:
            return round(time.monotonic() - started, 1)
        time.sleep(0.2)
    raise AssertionError(f"{topic}[{partition}] has no new leader {timeout_s:.0f} s after node {old} died")


@dataclass
class Run:
    """One fault test's deployment on the cluster: its worker(s), feed and progress."""

    cluster: LocalCluster
    deployment: Deployment
    logs: Path
    inputs: list[Input]
    workers: list[Worker] = field(default_factory=list)
    feeder: Feeder | None = None
    progress: Progress | None = None
    watch: Watch | None = None
    started: float = field(default_factory=time.monotonic)
    killed_cpu_s: float = 0.0  # CPU of the workers killed on purpose, taken just before
    brokers_cpu_at_start: float = 0.0
    harness_cpu_at_start: float = field(default_factory=time.process_time)

    @property
    def app_id(self) -> str:
        return f"wirepipe-test-{self.deployment.run_id}"

    @property
    def topics(self) -> dict[str, str]:
        """Every topic of the run: public, internal, the tables' changelogs and Faust's leader topic."""
        app = self.app_id
        changelogs = {
            f"{t}-changelog": f"{app}-{t}-changelog" for t in ("versions", "dedup-index", "stories")
        }
        internal = {step: f"{app}.{step}" for step in ("nlp", "dedup")}
        return {**self.deployment.topics, **internal, **changelogs, "leader": f"{app}-__assignor-__leader"}

    def backlog(self) -> int:
        """Inputs acknowledged to the feed whose outcome was not read yet (about: re-emits and tombstones
        count as outcomes): above 0, the worker has work in hand."""
        assert self.feeder is not None and self.progress is not None
        return len(self.feeder.acked_at) - self.progress.count

    def worker(self, name: str) -> Worker:
        worker = Worker(self.deployment, self.logs, name)
        self.workers.append(worker)
        return worker

    def restart_node(self, node: int) -> dict[str, float]:
        """Start a stopped node again and wait until every partition of the run is fully in sync."""
        restart_s = self.cluster.start_node(node)
        in_sync_s = self.cluster.wait_healthy(self.topics.values(), timeout_s=300)
        return {"restart_s": round(restart_s, 1), "in_sync_s_after_restart": round(in_sync_s, 1)}

    def recover(self, node: int, killed: float, fraction: float) -> dict[str, float]:
        """Wait for ``fraction`` of the outcomes, start the node killed at ``killed`` again and wait until
        all is in sync; the longest stall since the kill, when records came again, and the restart."""
        self.wait_for(fraction)
        restart = self.restart_node(node)
        assert self.progress is not None
        return {**self.progress.stall(killed, time.monotonic()), **restart}

    def kill_worker(self, worker: Worker) -> None:
        """SIGKILL a worker, keeping the CPU it had used."""
        self.killed_cpu_s += _cpu_seconds(worker)
        worker.kill()

    def feed(self) -> None:
        self.watch = Watch(self.deployment)
        self.progress = Progress(self.watch)
        self.progress.start()
        self.feeder = Feeder(
            self.deployment.bootstrap, self.deployment.topics["raw"], self.inputs, FEED_PER_S
        )
        self.feeder.start()

    def wait_fed(self, fraction: float, timeout_s: float = 600) -> int:
        """Wait until the feed has had ``fraction`` of the inputs acknowledged."""
        assert self.feeder is not None
        deadline = time.monotonic() + timeout_s
        while (fed := len(self.feeder.acked_at)) < int(len(self.inputs) * fraction):
            assert time.monotonic() < deadline, f"only {fed} inputs acknowledged after {timeout_s:.0f} s"
            time.sleep(0.2)
        return fed

    def wait_for(self, fraction: float, timeout_s: float = 900) -> int:
        assert self.progress is not None
        watched = [
            w for w in self.workers if w.process.poll() != -signal.SIGKILL
        ]  # not those killed on purpose
        return self.progress.wait_for(int(len(self.inputs) * fraction), timeout_s, watched)

    def finish(self, name: str, timeout_s: float = 1_200, **figures: Any) -> Ledger:
        """Wait until every input has its outcome (or time is up), report, and check the accounting."""
        assert self.feeder is not None and self.progress is not None and self.watch is not None
        produced = self.feeder.produced()
        alive = [w for w in self.workers if w.process.poll() is None]
        self.progress.stop()  # its readers are ours from here
        ledger = self.watch.wait_all(produced, timeout_s=timeout_s, workers=alive)
        topics = replication(self.cluster, self.deployment.run_id)
        report(
            f"cluster_{name}",
            seconds=round(time.monotonic() - self.started, 1),
            worker_cpu_s=round(self.killed_cpu_s + sum(_cpu_seconds(w) for w in self.workers), 1),
            brokers_cpu_s=round(self.cluster.cpu_seconds() - self.brokers_cpu_at_start, 1),
            harness_cpu_s=round(time.process_time() - self.harness_cpu_at_start, 1),  # feed and readers
            load=[round(x, 1) for x in os.getloadavg()],
            feed_per_s=FEED_PER_S,
            consumer_repairs=consumer_events(*self.workers),
            topics_replicated=sum(t == (NODES, str(MIN_INSYNC)) for t in topics.values()),
            topics=len(topics),
            **figures,
            **ledger.summary(),
        )
        assert_exactly_one_outcome_each(ledger)
        # Every topic the run's workers used, whoever made it, is replicated as configured.
        assert set(self.topics.values()) <= set(topics), topics
        assert set(topics.values()) == {(NODES, str(MIN_INSYNC))}, topics
        return ledger

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.progress is not None and self.progress.is_alive():
            self.progress.stop()
        if self.watch is not None:
            self.watch.close()


@contextmanager
def fault_run(cluster: LocalCluster, deployment: Deployment, logs: Path) -> Iterator[Run]:
    """A worker ready on the deployment, then the feed started; everything stopped afterwards."""
    run = Run(cluster, deployment, logs, article_stream(ARTICLES), brokers_cpu_at_start=cluster.cpu_seconds())
    try:
        run.worker("w1").wait_ready(timeout=300)
        run.feed()
        yield run
    finally:
        run.close()


def _cpu_seconds(worker: Worker) -> float:
    """CPU seconds a worker process (and its children) used so far; 0 once it is gone."""
    try:
        proc = psutil.Process(worker.process.pid)
        times = [proc.cpu_times(), *(c.cpu_times() for c in proc.children(recursive=True))]
    except psutil.Error:
        return 0.0
    return float(sum(t.user + t.system for t in times))
