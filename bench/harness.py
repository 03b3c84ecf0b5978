"""The bench's harness: the corpus, fresh deployments of real workers, and one streaming run through them."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import report
from bench.measure import (
    AssignmentIncompleteError,
    Collector,
    Outcome,
    Sampler,
    cpu_delta,
    machine_cpu,
    produce,
    wait_group_stable,
    worker_counters,
)
from pipeline.stages.clean import clean
from schemas.ninjs import RawArticle
from tests.workers import Deployment, Worker

PARTITIONS = 8


@dataclass
class BenchDeployment(Deployment):
    """A deployment with bench names (its own app id, consumer group and topics)."""

    @property
    def app_id(self) -> str:
        return f"wirepipe-bench-{self.run_id}"

    @property
    def topics(self) -> dict[str, str]:
        return {name: f"bench-{self.run_id}.{name}" for name in ("raw", "enriched", "deadletter", "quotes")}

    def env(self, **overrides: str) -> dict[str, str]:
        return super().env(**{"WIREPIPE_APP_ID": self.app_id, **overrides})


@dataclass
class Corpus:
    """The first N raw lines and the cleaned bodies the baseline parses (words are counted on them)."""

    lines: list[bytes]
    bodies: list[str]
    words: int
    failed_clean: int


@dataclass
class Bench:
    """One bench run: arguments, the broker, the sampler, and the results written as they come."""

    args: argparse.Namespace
    bootstrap: str
    sampler: Sampler
    corpus: Corpus
    all_lines: list[bytes]
    log_dir: Path
    results: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def worker_env(self) -> dict[str, str]:
        env = {"WIREPIPE_LOG_LEVEL": "INFO"}
        if self.args.batch_size:
            env["WIREPIPE_BATCH_SIZE"] = str(self.args.batch_size)
        if self.args.batch_timeout:
            env["WIREPIPE_BATCH_TIMEOUT_S"] = str(self.args.batch_timeout)
        return env

    def save(self) -> None:
        self.results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        report.write(self.results, self.args.out)


# -- corpus --------------------------------------------------------------------------------------------


def read_corpus(path: Path, n: int) -> tuple[Corpus, list[bytes]]:
    """The first ``n`` lines of the corpus, and their cleaned bodies (as the pipeline cleans them)."""
    all_lines = [line.rstrip(b"\n") for line in path.read_bytes().splitlines() if line.strip()]
    lines = all_lines[:n]
    bodies: list[str] = []
    failed = 0
    for line in lines:
        try:
            bodies.append(clean(RawArticle.model_validate_json(line)).body)
        except Exception:  # a corpus line the pipeline dead-letters has no body to parse
            failed += 1
    words = sum(len(b.split()) for b in bodies)
    return Corpus(lines=lines, bodies=bodies, words=words, failed_clean=failed), all_lines


def uri_of(line: bytes) -> bytes:
    data = orjson.loads(line)
    return str(data.get("uri") or data.get("guid")).encode()


def with_uri(line: bytes, uri: str) -> bytes:
    """The same article under another uri (a wire copy: same body, new identity)."""
    data = orjson.loads(line)
    data["uri"] = uri
    return orjson.dumps(data)


def rates(articles: int, words: int, seconds: float) -> dict[str, float]:
    return {
        "seconds": round(seconds, 3),
        "docs_per_s": round(articles / seconds, 2) if seconds > 0 else 0.0,
        "words_per_s": round(words / seconds, 1) if seconds > 0 else 0.0,
    }


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- phases --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def deployment(
    bench: Bench,
    name: str,
    workers: int,
    before_start: Callable[[BenchDeployment], None] | None = None,
) -> Iterator[tuple[BenchDeployment, list[Worker]]]:
    """A fresh deployment (own topics and dedup state) with ``workers`` ready workers in one stable group
    that holds every partition of the agents' topics. Started once more if an agent's topic is left
    unassigned (a start-up race in the worker, reported in the phase's ``restarts``). ``before_start``
    runs once the topics exist, before any worker does."""
    dep = BenchDeployment(bootstrap=bench.bootstrap, partitions=PARTITIONS, extra_env=bench.worker_env())
    dep.wirepipe("topics")
    if before_start is not None:
        before_start(dep)
    required = {dep.topics["raw"]: PARTITIONS, f"{dep.app_id}.dedup": 1, f"{dep.app_id}.nlp": PARTITIONS}
    bench.notes.pop(name, None)
    for attempt in (1, 2):
        started = [Worker(dep, bench.log_dir, f"{name}-a{attempt}-w{i + 1}") for i in range(workers)]
        try:
            for i, w in enumerate(started):
                bench.sampler.watch(f"{name}.w{i + 1}", w.process.pid, tree=True)
            for w in started:
                w.wait_ready(timeout=180)
            try:
                wait_group_stable(bench.bootstrap, dep.app_id, workers, required)
            except AssignmentIncompleteError as exc:
                if attempt == 2:
                    raise
                bench.notes.setdefault(name, []).append(f"restarted the workers: {exc}")
                continue
            yield dep, started
            return
        finally:
            for i, w in enumerate(started):
                bench.sampler.unwatch(f"{name}.w{i + 1}")
                w.stop()


def crashes(log_dir: Path, name: str) -> list[str]:
    """Agent crash lines in the phase's worker logs (Faust restarts a crashed agent and moves on)."""
    found = []
    for path in sorted(log_dir.glob(f"*-{name}-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if "Crashed reason=" in line:
                found.append(f"{path.name}: {orjson.loads(line).get('event', line)[:300]}")
    return found


def run_stream(
    bench: Bench,
    name: str,
    values: list[bytes],
    workers: int,
    around: Callable[[list[Worker]], contextlib.AbstractContextManager[Any]] | None = None,
) -> tuple[dict[str, Any], Any]:
    """Produce ``values`` (keyed by uri) as fast as possible; time from the first send to the last outcome.
    ``around(workers)`` is entered for the produce-to-last-outcome window (the profile phase samples it)."""
    with deployment(bench, name, workers) as (dep, started):
        outputs = [dep.topics["enriched"], dep.topics["deadletter"]]
        with Collector(bench.bootstrap, outputs) as collector:
            counters_before = [worker_counters(w.get("/metrics")) for w in started]
            cpu_before, machine_before = bench.sampler.cpu_seconds(), machine_cpu()
            with around(started) if around is not None else contextlib.nullcontext():
                sent = produce(bench.bootstrap, dep.topics["raw"], ((uri_of(v), v) for v in values))
                complete = collector.wait_for(len(values), timeout_s=max(180.0, len(values) * 0.5))
            cpu = cpu_delta(cpu_before, bench.sampler.cpu_seconds())
            machine_used = cpu_delta(machine_before, machine_cpu())
            counters = [
                cpu_delta(before, worker_counters(w.get("/metrics")))
                for before, w in zip(counters_before, started, strict=True)
            ]
            records = [r for r in collector.records if r.value is not None]
    crashed = crashes(bench.log_dir, name)
    if not complete:
        # Throughput from a run that lost outcomes would be a lie: fail the phase, say why.
        raise RuntimeError(
            f"{name}: {len(records)} of {len(values)} outcomes ({dict(Counter(kind(r) for r in records))}); "
            f"agent crashes: {crashed[:2] or 'none'}; worker logs in {bench.log_dir}"
        )
    last = max(r.arrived for r in records)
    seconds = last - sent.started
    kafka_seconds = (max(r.timestamp_ms for r in records) - min(sent.timestamps_ms.values())) / 1000
    cpu_total = sum(cpu.values())
    result = {
        "articles": len(values),
        "outcomes_received": len(records),
        "workers": workers,
        "partitions": PARTITIONS,
        "produce_seconds": round(sent.finished - sent.started, 3),
        "seconds_by_kafka_timestamps": round(kafka_seconds, 3),
        "outcomes": dict(Counter(kind(r) for r in records)),
        "cpu_seconds": cpu,
        "cpu_share": {k: round(v / cpu_total, 3) for k, v in cpu.items()} if cpu_total else {},
        # Each worker's CPU by part, from its own clocks (/metrics wirepipe_cpu_seconds_total), and
        # its NLP batches (the batch size changes spaCy's cost per article).
        "worker_counters": counters,
        "cores_busy": round(cpu_total / seconds, 2),
        # The whole machine over the same window (it also counts the wait for the last poll):
        # what other processes took shows whether the bench had the cores to itself.
        "machine_cores_busy": round(machine_used["busy"] / seconds, 2),
        "other_processes_cores_busy": round((machine_used["busy"] - cpu_total) / seconds, 2),
        "machine_cores_stolen": round(machine_used["steal"] / seconds, 2),
        "agent_crashes": crashed,
        "restarts": bench.notes.get(name, []),
        **rates(len(values), 0, seconds),
    }
    return result, records


def kind(record: Outcome) -> str:
    data = orjson.loads(record.value or b"{}")
    return str(data.get("outcome") or f"dead_letter:{data.get('error_code')}")


def percentile(sorted_values: list[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return round(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo), 1)


def latency_summary(latencies: list[int]) -> dict[str, Any]:
    """p50/p95/p99, max and mean of sorted latencies in ms, with the latencies themselves."""
    return {
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1],
        "mean_ms": round(statistics.fmean(latencies), 1),
        "latencies_ms": latencies,
    }


def mib(n: int) -> float:
    return round(n / 2**20, 1)
