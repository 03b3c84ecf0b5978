"""`make bench`: what the pipeline costs next to bare spaCy, alone and through a real broker.

Usage:
    .venv/bin/python bench/run.py [--n 1500] [--smoke] [--phases baseline,offline,...] [--out DIR]
                                  [--batch-size 16] [--batch-timeout 0.5] [--latency-seconds 60]

Phases (bench/README.md says what each figure means and how it is measured):
baseline, offline, one_worker, two_workers, duplicates, latency, profile, dedup_ceiling, and scaling and
scaling_latency (1, 2, 4 workers each held to --scaling-quota cores; bench/scaling.py; not with --smoke unless
named); memory is sampled throughout.
Writes ``latest.json``, ``latest.md`` and ``latest.png`` into ``--out`` (default ``bench/results``,
``bench/results/smoke`` with ``--smoke``). Starts and stops its own broker when
``WIREPIPE_KAFKA_BOOTSTRAP`` is unset.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import report  # noqa: E402
from bench.cpu_split import Samples, split  # noqa: E402
from bench.harness import Bench, load, mib, rates, read_corpus  # noqa: E402
from bench.measure import Sampler, listening_pid, machine  # noqa: E402
from bench.phases import (  # noqa: E402
    phase_baseline,
    phase_dedup_ceiling,
    phase_duplicates,
    phase_latency,
    phase_offline,
    phase_profile,
    phase_workers,
)
from bench.scaling import phase_scaling, phase_scaling_latency  # noqa: E402
from bench.update_path import phase_update_path  # noqa: E402
from pipeline.localkafka.broker import LocalBroker  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

PHASES = (
    "baseline",
    "offline",
    "one_worker",
    "baseline_again",
    "two_workers",
    "duplicates",
    "latency",
    "profile",
    "dedup_ceiling",
    "update_path",
    "scaling",
    "scaling_latency",
)
DEFAULT_N = 1500  # the whole bench then takes about 7 minutes on 2 cores (bench/README.md)
SMOKE_N = 12
SMOKE_SKIPS = ("update_path", "scaling", "scaling_latency")
SCALING_N = 1000  # per run of the scaling phase: 1 worker at 0.3 of a core takes about 2 minutes
GOALS = {
    "one_worker_vs_baseline": 1.25,
    "two_workers_vs_one_worker": 1.8,
    "duplicate_cost_vs_unique": 0.05,
    "latency_p99_ms": 2000.0,
    "worker_peak_rss_mib": 1024.0,
    "scaling_2_vs_1": 1.9,
    "scaling_4_vs_1": 3.6,
    "scaling_latency_p99_ms": 2000.0,
    "update_path_share_of_article": 0.10,
}
LOWER_IS_BETTER = {
    "duplicate_cost_vs_unique",
    "latency_p99_ms",
    "worker_peak_rss_mib",
    "scaling_latency_p99_ms",
    "update_path_share_of_article",
}


# -- the run -------------------------------------------------------------------------------------------


def bar(r: dict[str, Any]) -> dict[str, Any]:
    """The bar: the baseline phase; when it was also timed after the one-worker phase (``baseline_again``),
    the two merged (mean seconds, mean cores busy), so that the machine's speed drifting between phases
    (bare spaCy has measured 36 and 44 CPU ms per article in two runs an hour apart) weighs on both sides."""
    first, again = r.get("baseline", {}), r.get("baseline_again", {})
    if not first.get("seconds") or not again.get("seconds"):
        return first
    seconds = (first["seconds"] + again["seconds"]) / 2
    cores_busy = (first["cores_busy"] + again["cores_busy"]) / 2
    merged = {**first, "cores_busy": round(cores_busy, 3), "timed": 2}
    return merged | rates(first["articles"], first["words"], seconds)


def summarise(bench: Bench) -> None:
    """Ratios, memory and the goals, from the phases that ran."""
    r = bench.results
    ratios: dict[str, float] = {}
    base, one, two = bar(r), r.get("one_worker", {}), r.get("two_workers", {})
    if base.get("words_per_s") and r.get("offline", {}).get("words_per_s"):
        ratios["offline_vs_baseline"] = round(r["offline"]["words_per_s"] / base["words_per_s"], 3)
    if base.get("words_per_s") and one.get("words_per_s"):
        ratios["one_worker_vs_baseline"] = round(one["words_per_s"] / base["words_per_s"], 3)
    numpy_blas = base.get("reference_numpy_blas", {})
    if numpy_blas.get("words_per_s") and one.get("words_per_s"):
        # not a goal: the bar is bare spaCy as installed; this says how much of the lead is the BLAS
        reference = numpy_blas["words_per_s"]
        ratios["one_worker_vs_baseline_on_numpy_blas"] = round(one["words_per_s"] / reference, 3)
        ratios["baseline_on_numpy_blas_vs_baseline"] = round(reference / base["words_per_s"], 3)
    if one.get("words_per_s") and two.get("words_per_s"):
        ratios["two_workers_vs_one_worker"] = round(two["words_per_s"] / one["words_per_s"], 3)
    ratios |= r.get("scaling", {}).get("ratios", {})  # scaling_2_vs_1, scaling_4_vs_1 (bench/scaling.py)
    r["bar"] = {k: base.get(k) for k in ("seconds", "docs_per_s", "words_per_s", "cores_busy", "timed")}
    r["ratios"] = ratios
    r["cpu_projection"] = cpu_projection(r)
    r["per_core"] = per_core(r)
    r["cpu_per_article"] = cpu_per_article(r)
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
        "scaling_2_vs_1": ratios.get("scaling_2_vs_1"),
        "scaling_4_vs_1": ratios.get("scaling_4_vs_1"),
        "scaling_latency_p99_ms": r.get("scaling_latency", {}).get("p99_ms"),
        "update_path_share_of_article": r.get("update_path", {}).get("update_path_share_of_article"),
    }
    r["goals"] = {
        name: {
            "goal": ("<" if name in LOWER_IS_BETTER else ">=") + f" {target}",
            "measured": measured[name],
            "met": None
            if measured[name] is None
            else (measured[name] < target if name in LOWER_IS_BETTER else measured[name] >= target),
        }
        for name, target in GOALS.items()
    }


def cpu_projection(r: dict[str, Any]) -> dict[str, float]:
    """Ratios from CPU seconds per article instead of wall time: what the goals would read on 2 idle cores.

    Wall time per article can be no less than the busiest single process's CPU per article (the NLP
    process runs spaCy on one core; the worker's own process, GIL-bound, on one more) nor than all our
    processes' CPU over the cores. Other processes on a shared machine change the wall figures, not these.
    """
    base, one, two = bar(r), r.get("one_worker", {}), r.get("two_workers", {})
    out: dict[str, float] = {}
    if not (base.get("cores_busy") and one.get("cpu_seconds")):
        return out
    cores = r.get("machine", {}).get("cpu_affinity") or 2

    def per_article(phase: dict[str, Any]) -> tuple[float, float]:
        cpu = phase["cpu_seconds"]
        processes = [v for k, v in cpu.items() if ".w" in k]
        if phase.get("worker_counters"):  # a worker is two processes: its own and its NLP process
            processes = []
            for counters in phase["worker_counters"]:
                nlp = counters.get("cpu.nlp_process", 0.0)
                own = sum(v for k, v in counters.items() if k.startswith("cpu.") and k != "cpu.nlp_process")
                processes += [nlp, own]
        return max(processes) / phase["articles"] * 1000, sum(cpu.values()) / phase["articles"] * 1000

    base_ms = base["seconds"] * base["cores_busy"] / base["articles"] * 1000
    one_busiest, one_total = per_article(one)
    one_floor = max(one_busiest, one_total / cores)
    out |= {
        "baseline_cpu_ms_per_article": round(base_ms, 2),
        "one_worker_busiest_process_cpu_ms_per_article": round(one_busiest, 2),
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


def per_core(r: dict[str, Any]) -> dict[str, float]:
    """Articles per CPU second against bare spaCy's, and how much of the wall ratio is a second core.

    The baseline runs on one core; a worker is two processes (spaCy in its NLP process, the stream in its
    own) and can keep up to two busy. ``one_worker_vs_baseline_per_core`` is bare spaCy's CPU per article
    over the worker's (both its processes): what a core does through Wirepipe against what it does in
    ``nlp.pipe`` (``_with_broker`` also charges the broker's CPU to the worker).
    ``one_worker_from_overlap`` is the wall ratio over the per-core one, i.e. the worker's cores busy over
    the baseline's: the part of the wall ratio that comes from running the stream beside spaCy on another
    core. ``two_workers_vs_one_per_core``: CPU per article (workers and broker) of one worker over that of
    two, 1.0 when a second worker costs nothing per article beyond its share.
    """
    base, one, two = bar(r), r.get("one_worker", {}), r.get("two_workers", {})
    if not (base.get("cores_busy") and one.get("cpu_seconds")):
        return {}

    def ms(phase: dict[str, Any], broker: bool) -> float:
        cpu = phase["cpu_seconds"]
        seconds = sum(v for k, v in cpu.items() if ".w" in k) + (cpu.get("broker", 0.0) if broker else 0.0)
        return float(seconds * 1000 / phase["articles"])

    base_ms = base["seconds"] * base["cores_busy"] / base["articles"] * 1000
    worker_cores = sum(v for k, v in one["cpu_seconds"].items() if ".w" in k) / one["seconds"]
    out = {
        "baseline_cpu_ms_per_article": round(base_ms, 2),
        "one_worker_cpu_ms_per_article": round(ms(one, False), 2),
        "one_worker_broker_cpu_ms_per_article": round(ms(one, True) - ms(one, False), 2),
        "one_worker_cores_used": round(worker_cores, 2),
        "one_worker_vs_baseline_per_core": round(base_ms / ms(one, False), 3),
        "one_worker_vs_baseline_per_core_with_broker": round(base_ms / ms(one, True), 3),
    }
    wall = r.get("ratios", {}).get("one_worker_vs_baseline")
    if wall:
        out["one_worker_from_overlap"] = round(wall / out["one_worker_vs_baseline_per_core"], 3)
    if two.get("cpu_seconds"):
        out["two_workers_cpu_ms_per_article"] = round(ms(two, False), 2)
        out["two_workers_vs_one_per_core"] = round(ms(one, True) / ms(two, True), 3)
    return out


def cpu_per_article(r: dict[str, Any]) -> dict[str, Any]:
    """CPU ms per article by part in the one-worker phase (bench/README.md, "CPU per article by part"):
    the worker's parts from its own clocks, split by the profile phase's samples; the broker and the load
    generator (the bench's producer and collector) from psutil; the baseline's spaCy for comparison."""
    one, profile = r.get("one_worker", {}), r.get("profile", {})
    if not one.get("worker_counters"):
        return {}
    counters = one["worker_counters"][0]
    parts = {k.removeprefix("cpu."): v for k, v in counters.items() if k.startswith("cpu.")}
    sampled = profile.get("split_of_this_phase", {}).get("samples", {})
    samples = Samples(by_part={part: Counter(counts) for part, counts in sampled.items()})
    articles = one["articles"]
    out: dict[str, Any] = split(parts, samples, articles)
    cpu = one.get("cpu_seconds", {})
    out["ms_per_article"] |= {
        name: round(cpu[name] * 1000 / articles, 2) for name in ("broker", "bench") if name in cpu
    }
    out["worker_parts_ms_per_article"] = {p: round(s * 1000 / articles, 2) for p, s in parts.items()}
    if counters.get("nlp_batches"):
        out["nlp_batch_mean"] = round(counters["nlp_batched_articles"] / counters["nlp_batches"], 1)
    if counters.get("nlp_busy_seconds") and one.get("seconds"):
        # Near 1: the NLP process (spaCy) was the bottleneck; below: it waited for the stream.
        out["nlp_process_busy_share"] = round(counters["nlp_busy_seconds"] / one["seconds"], 3)
    base = bar(r)
    if base.get("cores_busy"):
        spacy_ms = base["seconds"] * base["cores_busy"] / base["articles"] * 1000
        out["baseline_spacy_ms_per_article"] = round(spacy_ms, 2)
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
    ap.add_argument("--phases", default="", help="comma-separated, of " + ",".join(PHASES) + " (default all)")
    ap.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    eval_dir = Path(os.environ.get("EVAL_DIR", REPO.parent / "shared" / "eval"))
    ap.add_argument("--corpus", type=Path, default=eval_dir / "corpus" / "articles.jsonl")
    ap.add_argument("--batch-size", type=int, default=0, help="WIREPIPE_BATCH_SIZE for every phase")
    ap.add_argument("--batch-timeout", type=float, default=0.0, help="WIREPIPE_BATCH_TIMEOUT_S for workers")
    ap.add_argument("--latency-seconds", type=float, default=0.0, help="default 60 (10 with --smoke)")
    ap.add_argument("--latency-rate", type=float, default=0.0, help="default: half the one-worker docs/s")
    ap.add_argument("--profile-n", type=int, default=0, help="articles for the profile phase (default 600)")
    ap.add_argument("--dedup-n", type=int, default=0, help="envelopes for dedup_ceiling (default 6000)")
    ap.add_argument("--scaling-n", type=int, default=0, help=f"articles per scaling run ({SCALING_N})")
    ap.add_argument("--scaling-quota", type=float, default=0.3, help="CPU cores per worker (0.3)")
    ap.add_argument("--scaling-workers", default="", help="worker counts, the base first (1,2,4)")
    ap.add_argument("--scaling-shares", type=int, default=8192, help="cpu.shares of every group (0: as is)")
    ap.add_argument("--scaling-latency-rate", type=float, default=0.0, help="default: half the most workers'")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    args.n = args.n or (SMOKE_N if args.smoke else DEFAULT_N)
    args.latency_seconds = args.latency_seconds or (10.0 if args.smoke else 60.0)
    args.profile_n = args.profile_n or min(args.n, 600)
    args.dedup_n = args.dedup_n or (200 if args.smoke else 6000)
    args.scaling_n = args.scaling_n or (SMOKE_N if args.smoke else SCALING_N)
    counts = args.scaling_workers or ("1,2" if args.smoke else "1,2,4")
    args.scaling_workers = [int(n) for n in counts.split(",")]
    args.out = args.out or REPO / "bench" / "results" / ("smoke" if args.smoke else "")
    # --smoke leaves the scaling phases out unless named: three more deployments, about 3 minutes
    args.phases = args.phases or ",".join(p for p in PHASES if not (args.smoke and p in SMOKE_SKIPS))
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
                    "baseline_again": lambda b: phase_baseline(b, reference=False),
                    "two_workers": lambda b: phase_workers(b, 2),
                    "duplicates": phase_duplicates,
                    "latency": phase_latency,
                    "profile": phase_profile,
                    "dedup_ceiling": phase_dedup_ceiling,
                    "update_path": phase_update_path,
                    "scaling": phase_scaling,
                    "scaling_latency": phase_scaling_latency,
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
