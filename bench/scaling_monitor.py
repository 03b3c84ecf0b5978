"""What the scaling phase watches while quota-held workers run: who holds which partition, consumer lag,
and every worker's CPU against its quota, sampled over time in a thread of the bench.

Lag comes from the broker (the group's committed offsets against the partitions' end offsets, the admin
API), not from the workers: a worker held to its quota answers late, and its own lag gauge is refreshed
every 5 s only. A sample costs two requests to the broker and a few file reads (the bench's own CPU, the
load generator's, is reported with everything else).
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec

from bench.cgroups import GroupedWorker
from bench.measure import Sampler, _field, _kafka_options, machine_cpu, worker_counters

_URL = re.compile(r'"url"\s*:\s*"http://[^":]+:(\d+)"')


def agent_topics(app_id: str, raw_topic: str, partitions: int) -> dict[str, tuple[str, int]]:
    """The three agents' input topics: short name -> (topic, partitions)."""
    return {
        "raw": (raw_topic, partitions),
        "dedup": (f"{app_id}.dedup", 1),
        "nlp": (f"{app_id}.nlp", partitions),
    }


def assignment(
    bootstrap: str, group: str, workers: dict[str, GroupedWorker], topics: dict[str, tuple[str, int]]
) -> dict[str, dict[str, list[int]]]:
    """Worker name -> {raw, dedup, nlp: the partitions it holds}, from the group's description. Faust puts
    each member's web URL into its subscription (``ClientMetadata.url``); the port says which worker it is."""
    by_port = {w.port: name for name, w in workers.items()}
    by_topic = {topic: short for short, (topic, _) in topics.items()}
    admin = KafkaAdminClient(**_kafka_options(bootstrap), client_id="wirepipe-bench-admin")
    try:
        found = admin.describe_groups([group])
    finally:
        admin.close()
    info = found.get(group) if isinstance(found, dict) else found[0]
    out: dict[str, dict[str, list[int]]] = {}
    for member in _field(info, "members") or []:
        match = _URL.search(str(_field(member, "member_metadata") or ""))
        name = by_port.get(int(match.group(1))) if match else None
        held: dict[str, list[int]] = {short: [] for short in topics}
        for entry in _field(_field(member, "member_assignment") or {}, "assigned_partitions") or []:
            short = by_topic.get(_field(entry, "topic"))
            if short:
                held[short] = sorted(_field(entry, "partitions") or [])
        out[name or f"unknown member {_field(member, 'member_id')}"] = held
    return dict(sorted(out.items()))


@dataclass
class Monitor:
    """Samples every ``interval_s``: each group's CPU and throttled seconds, the broker's and the bench's
    CPU, the whole machine's busy CPU, and the group's lag on every partition of the agents' topics."""

    bootstrap: str
    group: str
    topics: dict[str, tuple[str, int]]
    workers: dict[str, GroupedWorker]
    sampler: Sampler
    interval_s: float = 1.0
    samples: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Monitor:
        self._admin = KafkaAdminClient(**_kafka_options(self.bootstrap), client_id="wirepipe-bench-monitor")
        self._partitions = [
            TopicPartition(topic, p) for topic, count in self.topics.values() for p in range(count)
        ]
        self.sample()
        self._thread = threading.Thread(target=self._run, name="bench-scaling-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sample()
        self._admin.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def sample(self) -> None:
        now = time.time()
        sample: dict[str, Any] = {
            "t": now,
            "cpu": {name: w.group.usage_seconds() for name, w in self.workers.items()},
            "throttled": {n: w.group.throttling()["throttled_seconds"] for n, w in self.workers.items()},
            "processes": self.sampler.cpu_seconds(),
            "machine_busy": machine_cpu()["busy"],
        }
        try:
            sample["lag"] = self._lag()
        except Exception as exc:  # a slow broker answer costs a lag point, not the run
            if len(self.errors) < 5:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        self.samples.append(sample)

    def _lag(self) -> dict[str, int]:
        """End offset minus committed offset per partition (nothing committed yet: from offset 0, the
        deployment's topics are new), keyed ``short:partition``."""
        committed = self._admin.list_group_offsets({self.group: None}).get(self.group, {})
        ends = self._admin.list_partition_offsets(dict.fromkeys(self._partitions, OffsetSpec.LATEST))
        short = {topic: name for name, (topic, _) in self.topics.items()}
        lag = {}
        for tp in self._partitions:
            done = committed.get(tp)
            start = done.offset if done is not None and done.offset >= 0 else 0
            lag[f"{short[tp.topic]}:{tp.partition}"] = max(0, ends[tp].offset - start)
        return lag


def at(samples: list[dict[str, Any]], t: float, read: Any) -> float:
    """``read(sample)`` at time ``t``, linearly between the samples around it (the first or last outside)."""
    times = [s["t"] for s in samples]
    i = bisect.bisect_left(times, t)
    if i <= 0:
        return float(read(samples[0]))
    if i >= len(samples):
        return float(read(samples[-1]))
    before, after = samples[i - 1], samples[i]
    span = after["t"] - before["t"]
    share = (t - before["t"]) / span if span > 0 else 1.0
    return float(read(before) + (read(after) - read(before)) * share)


def lag_series(
    samples: list[dict[str, Any]], start: float, held: dict[str, dict[str, list[int]]]
) -> list[dict[str, Any]]:
    """Lag over time: seconds since ``start``, the lag per agent topic, and per worker (its partitions)."""
    series = []
    for s in samples:
        lag = s.get("lag")
        if lag is None:
            continue
        point: dict[str, Any] = {"t": round(s["t"] - start, 1)}
        for key, value in lag.items():
            short = key.split(":", 1)[0]
            point[short] = point.get(short, 0) + value
        point["by_worker"] = {
            name: sum(lag.get(f"{short}:{p}", 0) for short, parts in topics.items() for p in parts)
            for name, topics in held.items()
        }
        series.append(point)
    return series


def cpu_series(samples: list[dict[str, Any]], start: float) -> list[dict[str, Any]]:
    """Each worker's cores used (CPU seconds over wall seconds) between consecutive samples, over time."""
    series = []
    for before, after in itertools.pairwise(samples):
        span = after["t"] - before["t"]
        if span <= 0:
            continue
        cores = {}
        for name, used in after["cpu"].items():
            with contextlib.suppress(TypeError, KeyError):
                cores[name] = round((used - before["cpu"][name]) / span, 3)
        series.append({"t": round(after["t"] - start, 1), "cores": cores})
    return series


def stalls(log_dir: Path, name: str) -> list[dict[str, Any]]:
    """The worker's own repairs in the run: partitions it found behind their log end, unread for a minute
    with nothing of them in flight, and read again from their commit (``consumer.partition_stalled``)."""
    found = []
    for path in sorted(log_dir.glob(f"*-{name}-a*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if "consumer.partition_stalled" in line and line.startswith("{"):
                event = orjson.loads(line)
                keep = ("topic", "partition", "committed", "log_end", "seconds", "head", "timestamp")
                found.append({"log": path.name, **{k: event.get(k) for k in keep}})
    return found


def worker_totals(worker: GroupedWorker) -> dict[str, float]:
    """The worker's CPU by part and NLP batches (``worker_counters``), and its outcomes and dead letters."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    text = worker.get("/metrics")
    out = worker_counters(text)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("wirepipe_outcomes_total", "wirepipe_dead_letters_total"):
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 3) for k, v in after.items()}


def per_worker(
    named: dict[str, GroupedWorker],
    *,
    counters: dict[str, dict[str, float]],
    throttled: dict[str, dict[str, float]],
    samples: list[dict[str, Any]],
    window: tuple[float, float],
    quota: float,
) -> dict[str, Any]:
    """Each worker over the run: what it put out, its CPU (the group's: worker and NLP process) by part,
    and over the steady window its cores used against the quota and the time the kernel held it back."""
    t0, t1 = window
    out = {}
    for name in named:
        c = counters[name]
        articles = c.get("wirepipe_outcomes_total", 0.0) + c.get("wirepipe_dead_letters_total", 0.0)
        group_cpu = samples[-1]["cpu"][name] - samples[0]["cpu"][name]
        steady_cpu = change(samples, window, lambda s, n=name: s["cpu"][n])
        steady_held = change(samples, window, lambda s, n=name: s["throttled"][n])
        span = t1 - t0
        parts = {k.removeprefix("cpu."): v for k, v in c.items() if k.startswith("cpu.")}
        out[name] = {
            "outcomes": int(articles),
            "cpu_seconds": round(group_cpu, 2),
            "cpu_ms_per_outcome": round(group_cpu * 1000 / articles, 2) if articles else None,
            "cpu_seconds_by_part": parts,
            "steady_cores": round(steady_cpu / span, 3) if span > 0 else None,
            "steady_quota_used": round(steady_cpu / span / quota, 3) if span > 0 else None,
            "steady_throttled_seconds": round(steady_held, 2),
            "throttled_periods": int(throttled[name].get("throttled_periods", 0)),
            "periods": int(throttled[name].get("periods", 0)),
            "throttled_seconds": round(throttled[name].get("throttled_seconds", 0.0), 2),
            "nlp_batch_mean": round(c["nlp_batched_articles"] / c["nlp_batches"], 1)
            if c.get("nlp_batches")
            else None,
        }
    return out


def dedup_owner(
    held: dict[str, dict[str, list[int]]], counters: dict[str, dict[str, float]], articles: int
) -> dict[str, Any]:
    """Which worker holds the one dedup partition, and what that costs it: every article's lookup runs on
    its event loop, so its loop thread's CPU over the others' (mean), per article of the run."""
    owner = next((name for name, topics in held.items() if topics.get("dedup")), None)
    out: dict[str, Any] = {"worker": owner}
    others = [c.get("cpu.loop", 0.0) for name, c in counters.items() if name != owner]
    if owner is not None and others and articles:
        extra = counters[owner].get("cpu.loop", 0.0) - sum(others) / len(others)
        out["loop_cpu_ms_per_article_over_the_others"] = round(extra * 1000 / articles, 3)
        total = sum(v for k, v in counters[owner].items() if k.startswith("cpu."))
        out["share_of_its_cpu"] = round(extra / total, 3) if total else None
    return out


def change(samples: list[dict[str, Any]], window: tuple[float, float], read: Any) -> float:
    return at(samples, window[1], read) - at(samples, window[0], read)


def outside(samples: list[dict[str, Any]], window: tuple[float, float]) -> dict[str, Any]:
    """The broker, the load generator (the bench process) and the whole machine over the steady window."""
    t0, t1 = window
    span = t1 - t0
    if span <= 0:
        return {}

    def cores(read: Any) -> float:
        return round((at(samples, t1, read) - at(samples, t0, read)) / span, 3)

    out: dict[str, Any] = {"machine_cores_busy": cores(lambda s: s["machine_busy"])}
    for key, label in (("broker", "broker_cores"), ("bench", "load_generator_cores")):
        if all(key in s["processes"] for s in samples):
            out[label] = cores(lambda s, k=key: s["processes"][k])
    workers = sum(cores(lambda s, n=n: s["cpu"][n]) for n in samples[0]["cpu"])
    ours = workers + out.get("broker_cores", 0.0) + out.get("load_generator_cores", 0.0)
    out["workers_cores"] = round(workers, 3)
    out["other_processes_cores_busy"] = round(out["machine_cores_busy"] - ours, 3)
    return out
