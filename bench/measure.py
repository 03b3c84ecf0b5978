"""Measuring tools for the bench: process sampling (RSS, CPU), producing and collecting outcomes.

Everything here runs in the bench process, which shares the machine with the workers and the broker;
its own CPU time is measured too, so what it costs is visible in the results.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from pipeline.settings import Settings
from pipeline.stream.kafka_config import kafka_python_options

MAX_BYTES = 16_777_216  # the topics' max.message.bytes (settings.topic_max_message_bytes)


def _kafka_options(bootstrap: str) -> dict[str, Any]:
    """kafka-python options for ``bootstrap`` with the security settings of the environment."""
    return kafka_python_options(Settings(kafka_bootstrap=bootstrap))


class Sampler:
    """Samples the resident memory of named processes in a thread; reads their CPU seconds on demand.

    A process watched with ``tree=True`` counts with its descendants (a worker with its NLP process): RSS
    summed, CPU summed, a child's CPU kept as last read after it exits."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.peak_rss: dict[str, int] = {}
        self._procs: dict[str, psutil.Process] = {}
        self._children: dict[str, dict[int, psutil.Process]] = {}
        self._children_cpu: dict[str, dict[int, float]] = {}
        self._trees: set[str] = set()
        self._looked_for_children: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def watch(self, name: str, pid: int, *, tree: bool = False) -> None:
        """Sample process ``pid`` under ``name`` (its peak RSS is kept after it exits); ``tree``: with its
        descendants."""
        with contextlib.suppress(psutil.Error):
            with self._lock:
                self._procs[name] = psutil.Process(pid)
                self._children.pop(name, None)
                self._children_cpu.pop(name, None)
                self._looked_for_children.pop(name, None)
                if tree:
                    self._trees.add(name)
            self._sample()

    def unwatch(self, name: str) -> None:
        self._sample()
        with self._lock:
            self._procs.pop(name, None)

    def pid(self, name: str) -> int | None:
        """The pid watched under ``name``, if any."""
        with self._lock:
            proc = self._procs.get(name)
        return proc.pid if proc is not None else None

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU seconds so far of every watched process that is alive, with its descendants."""
        out: dict[str, float] = {}
        with self._lock:
            procs = dict(self._procs)
        for name, proc in procs.items():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                out[name] = times.user + times.system + sum(self._descendants(name, proc)[1].values())
        return out

    def _descendants(self, name: str, proc: psutil.Process) -> tuple[list[psutil.Process], dict[int, float]]:
        """The live descendants of ``proc``, and the CPU seconds of every descendant seen so far."""
        known = self._children.setdefault(name, {})
        cpu = self._children_cpu.setdefault(name, {})
        if name not in self._trees:
            return [], cpu
        # Listing children reads every /proc entry (3 ms here): new ones are looked for every 2 s only.
        if time.monotonic() - self._looked_for_children.get(name, 0.0) > 2.0:
            self._looked_for_children[name] = time.monotonic()
            with contextlib.suppress(psutil.Error):
                for child in proc.children(recursive=True):
                    known.setdefault(child.pid, child)
        live = []
        for pid, child in list(known.items()):
            try:
                times = child.cpu_times()
            except psutil.Error:
                known.pop(pid)  # gone: its last reading stays in ``cpu``
                continue
            cpu[pid] = times.user + times.system
            live.append(child)
        return live, cpu

    def _sample(self) -> None:
        with self._lock:
            procs = dict(self._procs)
        for name, proc in procs.items():
            with contextlib.suppress(psutil.Error):
                rss = proc.memory_info().rss
                for child in self._descendants(name, proc)[0]:
                    with contextlib.suppress(psutil.Error):
                        rss += child.memory_info().rss
                self.peak_rss[name] = max(rss, self.peak_rss.get(name, 0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()


def worker_counters(metrics_text: str) -> dict[str, float]:
    """From a worker's ``/metrics`` text: CPU seconds by part (``cpu.<part>``, pipeline/stream/cputime.py)
    and the NLP batches so far (``nlp_batches``, ``nlp_batched_articles``)."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "wirepipe_cpu_seconds_total":
                out[f"cpu.{sample.labels['part']}"] = sample.value
            elif sample.name == "wirepipe_batch_size_count":
                out["nlp_batches"] = sample.value
            elif sample.name == "wirepipe_batch_size_sum":
                out["nlp_batched_articles"] = sample.value
            elif sample.name == "wirepipe_nlp_busy_seconds_total":
                out["nlp_busy_seconds"] = sample.value
    return out


def machine_cpu() -> dict[str, float]:
    """CPU seconds of the whole machine so far: busy (any process) and stolen (by the hypervisor)."""
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    steal = getattr(t, "steal", 0.0)
    return {
        "busy": sum(t) - idle - steal - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0),
        "steal": steal,
    }


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds spent between two ``Sampler.cpu_seconds()`` readings, per process."""
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after if name in before}


def listening_pid(bootstrap: str) -> int | None:
    """The pid listening on the first bootstrap address when it is on this machine, else None."""
    host, _, port_text = bootstrap.split(",", maxsplit=1)[0].rpartition(":")
    local = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "", socket.gethostname()}  # noqa: S104 - a name
    if host.strip("[]") not in local:
        return None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == int(port_text):
                return int(conn.pid) if conn.pid is not None else None
    except (psutil.Error, ValueError):
        return None
    return None


@dataclass
class Outcome:
    """One record read from an output topic, with its Kafka timestamp and when the bench got it."""

    topic: str
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    arrived: float  # time.perf_counter() in the bench process


@dataclass
class Collector:
    """Reads output topics from the beginning in a thread (no consumer group) and keeps every record."""

    bootstrap: str
    topics: list[str]
    records: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def __enter__(self) -> Collector:
        self._thread = threading.Thread(target=self._run, name="bench-collector", daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise TimeoutError(f"collector could not assign {self.topics}: {self._error}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def count(self) -> int:
        """Records with a value (tombstones are not outcomes)."""
        return sum(1 for r in list(self.records) if r.value is not None)

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Wait until ``count`` outcomes arrived; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._error is not None:
                raise RuntimeError("collector failed") from self._error
            if self.count() >= count:
                return True
            time.sleep(0.05)
        return False

    def _run(self) -> None:
        try:
            consumer = KafkaConsumer(
                **_kafka_options(self.bootstrap),
                group_id=None,
                enable_auto_commit=False,
                client_id="wirepipe-bench",
                fetch_max_bytes=MAX_BYTES,
                max_partition_fetch_bytes=MAX_BYTES,
            )
        except BaseException as exc:
            self._error = exc
            return
        try:
            partitions = [
                TopicPartition(topic, p) for topic in self.topics for p in _partition_ids(consumer, topic)
            ]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            self._ready.set()
            while not self._stop.is_set():
                for batch in consumer.poll(timeout_ms=100).values():
                    now = time.perf_counter()
                    self.records.extend(Outcome(m.topic, m.key, m.value, m.timestamp, now) for m in batch)
        except BaseException as exc:
            self._error = exc
        finally:
            consumer.close()


def _partition_ids(consumer: KafkaConsumer, topic: str, timeout_s: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ids = consumer.partitions_for_topic(topic)
        if ids:
            return sorted(ids)
        time.sleep(0.1)
    raise TimeoutError(f"topic {topic!r} has no partitions")


@dataclass
class Sent:
    """What the producer sent: per key, the record's Kafka timestamp (producer clock, CreateTime)."""

    started: float  # perf_counter before the first send
    finished: float  # perf_counter after the last acknowledgement
    timestamps_ms: dict[bytes, int]


@contextlib.contextmanager
def producer(bootstrap: str) -> Iterator[KafkaProducer]:
    """The same producer settings as ``wirepipe produce`` (acks=all, linger 5 ms)."""
    p = KafkaProducer(
        **_kafka_options(bootstrap),
        acks="all",
        linger_ms=5,
        max_request_size=MAX_BYTES,
        client_id="wirepipe-bench",
    )
    try:
        yield p
    finally:
        p.close(timeout=10)


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]], rate: float = 0.0) -> Sent:
    """Send (key, value) records, as fast as possible or at ``rate`` per second on a fixed schedule."""
    with producer(bootstrap) as p:
        futures = []
        started = time.perf_counter()
        for i, (key, value) in enumerate(records):
            if rate:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            futures.append((key, p.send(topic, key=key, value=value)))
        p.flush(timeout=60)
        stamps = {key: future.get(timeout=60).timestamp for key, future in futures}
        return Sent(started=started, finished=time.perf_counter(), timestamps_ms=stamps)


class AssignmentIncompleteError(TimeoutError):
    """The group is stable, but some partitions of an agent's topic are assigned to no member."""


def wait_group_stable(
    bootstrap: str,
    group: str,
    members: int,
    required: dict[str, int],
    *,
    timeout_s: float = 90,
    settle_s: float = 10,
) -> float:
    """Wait until the group is Stable with ``members`` members that together hold every partition of
    the ``required`` topics (name -> partitions); returns the seconds waited.

    Raises ``AssignmentIncompleteError`` when the group stays stable for ``settle_s`` without them
    (Faust ignores a topic missing from the metadata at assignment time and never asks again).
    """
    started = time.monotonic()
    stable_since: float | None = None
    missing: dict[str, list[int]] = {}
    admin = KafkaAdminClient(**_kafka_options(bootstrap), client_id="wirepipe-bench-admin")
    try:
        while time.monotonic() - started < timeout_s:
            info: Any = None
            with contextlib.suppress(Exception):  # the group may not exist yet: ask again
                found = admin.describe_groups([group])
                info = found.get(group) if isinstance(found, dict) else found[0]
            group_members = (_field(info, "members") or []) if info is not None else []
            stable = str(_field(info, "group_state", "state")).lower() == "stable"
            if stable and len(group_members) == members:
                missing = _unassigned(group_members, required)
                if not missing:
                    return time.monotonic() - started
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since > settle_s:
                    raise AssignmentIncompleteError(f"group {group}: no member holds {missing}")
            else:
                stable_since = None
            time.sleep(0.5)
    finally:
        admin.close()
    raise TimeoutError(f"group {group} not stable with {members} members after {timeout_s}s ({missing})")


def _unassigned(members: list[Any], required: dict[str, int]) -> dict[str, list[int]]:
    held: dict[str, set[int]] = {}
    for member in members:
        assignment = _field(member, "member_assignment") or {}
        for entry in _field(assignment, "assigned_partitions") or []:
            held.setdefault(_field(entry, "topic"), set()).update(_field(entry, "partitions") or [])
    return {
        topic: sorted(set(range(n)) - held.get(topic, set()))
        for topic, n in required.items()
        if set(range(n)) - held.get(topic, set())
    }


def _field(info: Any, *names: str) -> Any:
    for name in names:
        if isinstance(info, dict) and name in info:
            return info[name]
        if hasattr(info, name):
            return getattr(info, name)
    return None


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    model = ""
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo", encoding="utf-8"):  # noqa: SIM115 - read once, closed on exit
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "hostname": socket.gethostname(),
    }
