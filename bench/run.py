"""`make bench`: what the pipeline costs next to bare spaCy, alone and through a real broker.

Usage:
    .venv/bin/python bench/run.py [--n 1500] [--smoke] [--phases baseline,offline,...] [--out DIR]
                                  [--batch-size 16] [--batch-timeout 0.5] [--latency-seconds 60]

Phases (bench/README.md says what each figure means and how it is measured):
baseline, offline, one_worker, two_workers, duplicates, latency; memory is sampled throughout.
Writes ``latest.json``, ``latest.md`` and ``latest.png`` into ``--out`` (default ``bench/results``,
``bench/results/smoke`` with ``--smoke``). Starts and stops its own broker when
``WIREPIPE_KAFKA_BOOTSTRAP`` is unset.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import report  # noqa: E402
from bench.measure import (  # noqa: E402
    AssignmentIncompleteError,
    Collector,
    Outcome,
    Sampler,
    cpu_delta,
    listening_pid,
    machine,
    machine_cpu,
    produce,
    wait_group_stable,
    worker_counters,
)
from pipeline.localkafka.broker import LocalBroker  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.stages.clean import clean  # noqa: E402
from pipeline.stages.entities import load_nlp  # noqa: E402
from schemas.ninjs import RawArticle  # noqa: E402
from tests.workers import WIREPIPE, Deployment, Worker  # noqa: E402

PHASES = ("baseline", "offline", "one_worker", "two_workers", "duplicates", "latency")
PARTITIONS = 8
DEFAULT_N = 1500  # the whole bench then takes about 7 minutes on 2 cores (bench/README.md)
SMOKE_N = 12
GOALS = {
    "one_worker_vs_baseline": 0.9,
    "two_workers_vs_one_worker": 1.7,
    "duplicate_cost_vs_unique": 0.05,
    "latency_p99_ms": 2000.0,
    "worker_peak_rss_mib": 1024.0,
}


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


def phase_baseline(bench: Bench) -> dict[str, Any]:
    """Bare ``nlp.pipe`` over the cleaned bodies: the same model and components, the same batch size."""
    settings = Settings(**({"batch_size": bench.args.batch_size} if bench.args.batch_size else {}))
    nlp = load_nlp(settings.spacy_model)
    bodies = bench.corpus.bodies
    machine_before, self_before = machine_cpu(), time.process_time()
    started = time.perf_counter()
    for _ in nlp.pipe(bodies, batch_size=settings.batch_size):
        pass
    seconds = time.perf_counter() - started
    machine_used, self_used = cpu_delta(machine_before, machine_cpu()), time.process_time() - self_before
    del nlp
    gc.collect()
    return {
        "articles": len(bodies),
        "words": bench.corpus.words,
        "model": settings.spacy_model,
        "batch_size": settings.batch_size,
        "cores_busy": round(self_used / seconds, 2),
        "machine_cores_busy": round(machine_used["busy"] / seconds, 2),
        "other_processes_cores_busy": round((machine_used["busy"] - self_used) / seconds, 2),
        **rates(len(bodies), bench.corpus.words, seconds),
    }


def phase_offline(bench: Bench) -> dict[str, Any]:
    """``wirepipe enrich`` over the same N raw lines; its own log says when the model was loaded."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_bytes(b"\n".join(bench.corpus.lines) + b"\n")
        env = {**os.environ, "WIREPIPE_LOG_FORMAT": "json", **bench.worker_env()}
        started = time.perf_counter()
        with (Path(tmp) / "out.jsonl").open("wb") as out, (Path(tmp) / "err.log").open("wb") as err:
            proc = subprocess.Popen([WIREPIPE, "enrich", str(src)], env=env, stdout=out, stderr=err)
            bench.sampler.watch("offline", proc.pid)
            code = proc.wait(timeout=3600)
            bench.sampler.unwatch("offline")
        wall = time.perf_counter() - started
        logs = [orjson.loads(x) for x in (Path(tmp) / "err.log").read_bytes().splitlines() if x[:1] == b"{"]
        outcomes = Counter(
            orjson.loads(x).get("outcome") or "dead_letter"
            for x in (Path(tmp) / "out.jsonl").read_bytes().splitlines()
        )
    if code != 0:
        raise RuntimeError(f"wirepipe enrich exited with {code}")
    loaded = next(e["seconds"] for e in logs if e.get("event") == "enrich.model_loaded")
    done = next(e["seconds"] for e in logs if e.get("event") == "enrich.done")
    n, words = len(bench.corpus.lines), bench.corpus.words
    return {
        "articles": n,
        "words": words,
        "wall_seconds_with_start": round(wall, 3),
        "model_load_seconds": loaded,
        "outcomes": dict(outcomes),
        "peak_rss_mib": mib(bench.sampler.peak_rss.get("offline", 0)),
        **rates(n, words, done - loaded),
    }


@contextlib.contextmanager
def deployment(bench: Bench, name: str, workers: int) -> Iterator[tuple[BenchDeployment, list[Worker]]]:
    """A fresh deployment (own topics and dedup state) with ``workers`` ready workers in one stable group
    that holds every partition of the agents' topics. Started once more if an agent's topic is left
    unassigned (a start-up race in the worker, reported in the phase's ``restarts``)."""
    dep = BenchDeployment(bootstrap=bench.bootstrap, partitions=PARTITIONS, extra_env=bench.worker_env())
    dep.wirepipe("topics")
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


def run_stream(bench: Bench, name: str, values: list[bytes], workers: int) -> tuple[dict[str, Any], Any]:
    """Produce ``values`` (keyed by uri) as fast as possible; time from the first send to the last outcome."""
    with deployment(bench, name, workers) as (dep, started):
        outputs = [dep.topics["enriched"], dep.topics["deadletter"]]
        with Collector(bench.bootstrap, outputs) as collector:
            counters_before = [worker_counters(w.get("/metrics")) for w in started]
            cpu_before, machine_before = bench.sampler.cpu_seconds(), machine_cpu()
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


def phase_workers(bench: Bench, workers: int) -> dict[str, Any]:
    name = "one_worker" if workers == 1 else "two_workers"
    result, _ = run_stream(bench, name, bench.corpus.lines, workers)
    result["words"] = bench.corpus.words
    result["words_per_s"] = round(bench.corpus.words / result["seconds"], 1)
    return result


def phase_duplicates(bench: Bench) -> dict[str, Any]:
    """N articles plus a copy of each under a new uri, shuffled; the cost of a duplicate vs a unique one."""
    lines = bench.corpus.lines
    values = lines + [with_uri(v, uri_of(v).decode() + ":bench-copy") for v in lines]
    random.Random(bench.args.seed).shuffle(values)
    result, records = run_stream(bench, "duplicates", values, workers=1)
    per_kind: dict[str, list[dict[str, float]]] = {"unique": [], "duplicate": []}
    for r in records:
        data = orjson.loads(r.value or b"{}")
        group = {"enriched": "unique", "update": "unique", "duplicate": "duplicate"}.get(data.get("outcome"))
        if group:
            per_kind[group].append(data.get("timings_ms") or {})
    stage_ms = {
        group: {
            stage: round(statistics.fmean(t.get(stage, 0.0) for t in timings), 3)
            for stage in sorted({s for t in timings for s in t})
        }
        for group, timings in per_kind.items()
        if timings
    }
    total_ms = {
        group: round(statistics.fmean(sum(t.values()) for t in timings), 3)
        for group, timings in per_kind.items()
        if timings
    }
    result["per_record_timings_ms"] = {
        "count": {g: len(t) for g, t in per_kind.items()},
        "mean_total": total_ms,
        "mean_by_stage": stage_ms,
    }
    if total_ms.get("unique") and "duplicate" in total_ms:
        result["duplicate_cost_vs_unique_timings"] = round(total_ms["duplicate"] / total_ms["unique"], 4)
    one = bench.results.get("one_worker", {})
    if one.get("seconds"):
        # Wall time: (2N shuffled) - (N unique) spread over the N copies, next to N unique per article.
        per_unique = one["seconds"] / len(lines)
        per_duplicate = (result["seconds"] - one["seconds"]) / len(lines)
        result["wall_ms_per_unique"] = round(per_unique * 1000, 3)
        result["wall_ms_per_duplicate"] = round(per_duplicate * 1000, 3)
        result["duplicate_cost_vs_unique_wall"] = round(per_duplicate / per_unique, 4)
    return result


def phase_latency(bench: Bench) -> dict[str, Any]:
    """A fixed rate of half the one-worker throughput for a fixed time; produce -> outcome per article."""
    one = bench.results.get("one_worker", {})
    rate = bench.args.latency_rate or 0.5 * float(one.get("docs_per_s") or 0)
    if rate <= 0:
        raise RuntimeError("latency needs --latency-rate or the one_worker phase")
    count = max(1, math.ceil(rate * bench.args.latency_seconds))
    pool = bench.all_lines
    # Past the corpus, copies under new uris are duplicates (cheap): counted and reported.
    values = [
        pool[i % len(pool)] if i < len(pool) else with_uri(pool[i % len(pool)], f"bench-lat-{i}")
        for i in range(count)
    ]
    with deployment(bench, "latency", 1) as (dep, _):
        outputs = [dep.topics["enriched"], dep.topics["deadletter"]]
        with Collector(bench.bootstrap, outputs) as collector:
            sent = produce(bench.bootstrap, dep.topics["raw"], ((uri_of(v), v) for v in values), rate=rate)
            complete = collector.wait_for(len(values), timeout_s=120)
            records = [r for r in collector.records if r.value is not None]
    if not records:
        raise RuntimeError(f"latency: no outcome; agent crashes: {crashes(bench.log_dir, 'latency')[:2]}")
    if not complete:
        raise RuntimeError(
            f"latency: {len(records)} of {len(values)} outcomes 120 s after the last send; "
            f"agent crashes: {crashes(bench.log_dir, 'latency')[:2] or 'none'}"
        )
    latencies = sorted(
        r.timestamp_ms - sent.timestamps_ms[r.key] for r in records if r.key in sent.timestamps_ms
    )
    if not latencies:
        raise RuntimeError("latency: no outcome matched a produced key")
    return {
        "rate_target_per_s": round(rate, 2),
        "rate_achieved_per_s": round(len(values) / (sent.finished - sent.started), 2),
        "seconds": bench.args.latency_seconds,
        "articles": len(values),
        "repeated_bodies": max(0, len(values) - len(pool)),
        "matched": len(latencies),
        "complete": complete,
        "outcomes": dict(Counter(kind(r) for r in records)),
        "agent_crashes": crashes(bench.log_dir, "latency"),
        "restarts": bench.notes.get("latency", []),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1],
        "mean_ms": round(statistics.fmean(latencies), 1),
        "latencies_ms": latencies,
    }


def percentile(sorted_values: list[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return round(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo), 1)


def mib(n: int) -> float:
    return round(n / 2**20, 1)


# -- the run -------------------------------------------------------------------------------------------


def summarise(bench: Bench) -> None:
    """Ratios, memory and the goals, from the phases that ran."""
    r = bench.results
    ratios: dict[str, float] = {}
    base, one, two = r.get("baseline", {}), r.get("one_worker", {}), r.get("two_workers", {})
    if base.get("words_per_s") and r.get("offline", {}).get("words_per_s"):
        ratios["offline_vs_baseline"] = round(r["offline"]["words_per_s"] / base["words_per_s"], 3)
    if base.get("words_per_s") and one.get("words_per_s"):
        ratios["one_worker_vs_baseline"] = round(one["words_per_s"] / base["words_per_s"], 3)
    if one.get("words_per_s") and two.get("words_per_s"):
        ratios["two_workers_vs_one_worker"] = round(two["words_per_s"] / one["words_per_s"], 3)
    r["ratios"] = ratios
    r["cpu_projection"] = cpu_projection(r)
    peaks = bench.sampler.peak_rss
    workers = {k: mib(v) for k, v in sorted(peaks.items()) if ".w" in k}
    r["memory_mib"] = {
        "workers_peak_rss": workers,
        "worker_peak_rss_max": max(workers.values(), default=0.0),
        "broker_peak_rss": mib(peaks.get("broker", 0)) or None,
        "offline_peak_rss": mib(peaks.get("offline", 0)) or None,
        "bench_peak_rss": mib(peaks.get("bench", 0)),
    }
    dup = r.get("duplicates", {})
    measured = {
        "one_worker_vs_baseline": ratios.get("one_worker_vs_baseline"),
        "two_workers_vs_one_worker": ratios.get("two_workers_vs_one_worker"),
        "duplicate_cost_vs_unique": dup.get("duplicate_cost_vs_unique_timings"),
        "latency_p99_ms": r.get("latency", {}).get("p99_ms"),
        "worker_peak_rss_mib": r["memory_mib"]["worker_peak_rss_max"] or None,
    }
    r["goals"] = {
        name: {
            "goal": (
                "<" if name in ("duplicate_cost_vs_unique", "latency_p99_ms", "worker_peak_rss_mib") else ">="
            )
            + f" {target}",
            "measured": measured[name],
            "met": None
            if measured[name] is None
            else (
                measured[name] < target
                if name in ("duplicate_cost_vs_unique", "latency_p99_ms", "worker_peak_rss_mib")
                else measured[name] >= target
            ),
        }
        for name, target in GOALS.items()
    }


def cpu_projection(r: dict[str, Any]) -> dict[str, float]:
    """Ratios from CPU seconds per article instead of wall time: what the goals would read on 2 idle cores.

    Wall time per article can be no less than the busiest single process's CPU per article (one
    process runs its spaCy on one core) nor than all our processes' CPU over 2 cores. Other
    processes on a shared machine change the wall figures, not these.
    """
    base, one, two = r.get("baseline", {}), r.get("one_worker", {}), r.get("two_workers", {})
    out: dict[str, float] = {}
    if not (base.get("cores_busy") and one.get("cpu_seconds")):
        return out
    cores = r.get("machine", {}).get("cpu_affinity") or 2

    def per_article(phase: dict[str, Any]) -> tuple[float, float]:
        cpu = phase["cpu_seconds"]
        busiest = max(v for k, v in cpu.items() if ".w" in k)
        return busiest / phase["articles"] * 1000, sum(cpu.values()) / phase["articles"] * 1000

    base_ms = base["seconds"] * base["cores_busy"] / base["articles"] * 1000
    one_busiest, one_total = per_article(one)
    one_floor = max(one_busiest, one_total / cores)
    out |= {
        "baseline_cpu_ms_per_article": round(base_ms, 2),
        "one_worker_worker_cpu_ms_per_article": round(one_busiest, 2),
        "one_worker_all_cpu_ms_per_article": round(one_total, 2),
        "one_worker_vs_baseline": round(base_ms / one_floor, 3),
    }
    if two.get("cpu_seconds"):
        two_busiest, two_total = per_article(two)
        out |= {
            "two_workers_all_cpu_ms_per_article": round(two_total, 2),
            "two_workers_broker_share": two["cpu_share"].get("broker", 0.0),
            "two_workers_vs_one_worker": round(one_floor / max(two_busiest, two_total / cores), 3),
        }
    return out


@contextlib.contextmanager
def broker(sampler: Sampler) -> Iterator[tuple[str, str]]:
    """WIREPIPE_KAFKA_BOOTSTRAP when set (its process is sampled if it listens here), else a local broker."""
    configured = os.environ.get("WIREPIPE_KAFKA_BOOTSTRAP", "").strip()
    if configured:
        pid = listening_pid(configured)
        if pid is not None:
            sampler.watch("broker", pid)
        yield configured, "WIREPIPE_KAFKA_BOOTSTRAP"
        return
    with LocalBroker() as local:
        if local.pid is not None:
            sampler.watch("broker", local.pid)
        yield local.bootstrap, f"local broker (LocalBroker, Kafka {local.kafka_version})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=0, help=f"articles (default {DEFAULT_N}, {SMOKE_N} smoke)")
    ap.add_argument("--smoke", action="store_true", help="a few articles and a 10 s latency phase")
    ap.add_argument("--phases", default=",".join(PHASES), help="comma-separated, of " + ",".join(PHASES))
    ap.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    eval_dir = Path(os.environ.get("EVAL_DIR", REPO.parent / "shared" / "eval"))
    ap.add_argument("--corpus", type=Path, default=eval_dir / "corpus" / "articles.jsonl")
    ap.add_argument("--batch-size", type=int, default=0, help="WIREPIPE_BATCH_SIZE for every phase")
    ap.add_argument("--batch-timeout", type=float, default=0.0, help="WIREPIPE_BATCH_TIMEOUT_S for workers")
    ap.add_argument("--latency-seconds", type=float, default=0.0, help="default 60 (10 with --smoke)")
    ap.add_argument("--latency-rate", type=float, default=0.0, help="default: half the one-worker docs/s")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    args.n = args.n or (SMOKE_N if args.smoke else DEFAULT_N)
    args.latency_seconds = args.latency_seconds or (10.0 if args.smoke else 60.0)
    args.out = args.out or REPO / "bench" / "results" / ("smoke" if args.smoke else "")
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        ap.error(f"unknown phases: {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    corpus, all_lines = read_corpus(args.corpus, args.n)
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = Path(tempfile.mkdtemp(prefix="logs-", dir=args.out))
    sampler = Sampler().start()
    sampler.watch("bench", os.getpid())
    failed: list[str] = []
    try:
        with broker(sampler) as (bootstrap, broker_kind):
            bench = Bench(args, bootstrap, sampler, corpus, all_lines, log_dir)
            bench.results = {
                "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
                "smoke": args.smoke,
                "machine": machine(),
                "load_avg_start": load(),
                "broker": broker_kind,
                "corpus": {
                    "path": str(args.corpus),
                    "articles": len(corpus.lines),
                    "words": corpus.words,
                    "failed_clean": corpus.failed_clean,
                },
                "settings": {
                    "batch_size": args.batch_size or Settings().batch_size,
                    "batch_timeout_s": args.batch_timeout or Settings().batch_timeout_s,
                },
                "worker_logs": str(log_dir),
            }
            for name in args.phases.split(","):
                step = {
                    "baseline": phase_baseline,
                    "offline": phase_offline,
                    "one_worker": lambda b: phase_workers(b, 1),
                    "two_workers": lambda b: phase_workers(b, 2),
                    "duplicates": phase_duplicates,
                    "latency": phase_latency,
                }[name]
                print(f"bench: {name} ...", file=sys.stderr, flush=True)
                phase_started = time.perf_counter()
                load_before = load()
                try:
                    bench.results[name] = step(bench)
                except Exception as exc:  # one failed phase is reported; the others still run
                    failed.append(name)
                    bench.results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                bench.results[name]["load_avg_before"] = load_before
                bench.results[name]["load_avg_after"] = load()
                bench.results[name]["phase_wall_seconds"] = round(time.perf_counter() - phase_started, 1)
                summarise(bench)
                bench.save()
                print(f"bench: {name} {report.one_line(bench.results[name])}", file=sys.stderr, flush=True)
            bench.results["total_wall_seconds"] = round(time.perf_counter() - started, 1)
            bench.results["load_avg_end"] = load()
            summarise(bench)
            bench.save()
    finally:
        sampler.stop()
    print(report.markdown(bench.results))
    print(f"bench: wrote {args.out}/latest.json, latest.md, latest.png", file=sys.stderr)
    if failed:
        print(f"bench: failed phases: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
