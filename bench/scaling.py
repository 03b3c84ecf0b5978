"""The scaling phase: 1, 2 and 4 workers, each held to the same CPU quota with its NLP process, on the same
input; and the latency of four quota-held workers at half their load (bench/README.md, "Scaling").

On two cores the machine, not the pipeline, limits unheld workers: one already keeps 1.2 cores busy with the
broker and the load generator. Held to a fixed share each (``--scaling-quota`` cores: a cgroup per worker,
``bench/cgroups.py``), N workers need N shares; four of 0.3 leave 0.8 of the two cores for the broker and
the bench, so what is left is the pipeline's own scaling: the group's balance, the one dedup partition, the
hops, the broker.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson

from bench import cgroups
from bench.cgroups import GroupedWorker
from bench.harness import Bench, BenchDeployment, crashes, kind, latency_summary, percentile, uri_of, with_uri
from bench.measure import (
    AssignmentIncompleteError,
    Collector,
    Outcome,
    produce,
    producer,
    wait_group_stable,
)
from bench.scaling_monitor import (
    Monitor,
    agent_topics,
    assignment,
    cpu_series,
    dedup_owner,
    delta,
    lag_series,
    outside,
    per_worker,
    stalls,
    worker_totals,
)

PARTITIONS = 12  # the product's default (WIREPIPE_PARTITIONS): 1, 2 and 4 workers hold 12, 6 and 3 each
STEADY = (0.1, 0.9)  # the steady part of a run: from the 10 % to the 90 % outcome
WARM_UP_PER_PARTITION = 2  # articles into every raw partition before the clock starts
WARM_UP_TIMEOUT_S = 240.0  # a partition Faust left unread is read again by the worker after about 70 s
IDLE_S = 5.0  # each worker's CPU with nothing to do, measured after the warm-up


def phase_scaling(bench: Bench) -> dict[str, Any]:
    """One fresh deployment per worker count, the same first ``--scaling-n`` articles produced at once into
    each; throughput over the steady part of the run. Refuses (no error) where quotas cannot be set."""
    reason = cgroups.unavailable()
    if reason is not None:
        return {"refused": reason}
    quota = bench.args.scaling_quota
    values = bench.all_lines[: bench.args.scaling_n]
    result: dict[str, Any] = {
        "quota_cores": quota,
        "cfs_quota_us": round(quota * cgroups.PERIOD_US),
        "cfs_period_us": cgroups.PERIOD_US,
        "mechanism": "cgroup v1 cpu controller, a group per worker (worker + NLP process): bench/cgroups.py",
        "articles": len(values),
        "partitions": PARTITIONS,
        "shares": bench.args.scaling_shares,
        "stale_groups_removed": cgroups.sweep_stale(),
        "runs": {},
    }
    with _outside_quotas(bench, result):
        for workers in bench.args.scaling_workers:
            # a count given twice (--scaling-workers 1,1,2) is kept as "1" and "1#2"
            repeat = sum(1 for k in result["runs"] if k.split("#")[0] == str(workers))
            key = f"{workers}#{repeat + 1}" if repeat else str(workers)
            started = time.perf_counter()
            try:
                run = held_run(bench, f"scaling{key.replace('#', 'r')}", workers, values)
            except Exception as exc:  # one failed run is reported; the other counts still run
                run = {"error": f"{type(exc).__name__}: {exc}"}
            run["run_wall_seconds"] = round(time.perf_counter() - started, 1)
            result["runs"][key] = run
    base = result["runs"].get("1", {}).get("docs_per_s_steady")
    result["ratios"] = {
        f"scaling_{n}_vs_1": round(run["docs_per_s_steady"] / base, 3)
        for n, run in result["runs"].items()
        if n != "1" and base and run.get("docs_per_s_steady")
    }
    # Workers that each use their whole quota do n x quota / (CPU per article) articles/s: the ratio the CPU
    # per article alone allows. Measured below it: something else held workers (input, a hop, the machine).
    one = result["runs"].get("1", {}).get("cpu_ms_per_article")
    result["ratios_from_cpu_per_article"] = {
        f"scaling_{n}_vs_1": round(int(n) * one / run["cpu_ms_per_article"], 3)
        for n, run in result["runs"].items()
        if n != "1" and "#" not in n and one and run.get("cpu_ms_per_article")
    }
    return result


def phase_scaling_latency(bench: Bench) -> dict[str, Any]:
    """The most workers of the scaling phase, held to the same quota, fed at half the rate they reached
    there on a fixed schedule for ``--latency-seconds``: produce -> outcome per article (Kafka timestamps)."""
    reason = cgroups.unavailable()
    if reason is not None:
        return {"refused": reason}
    workers = max(bench.args.scaling_workers)
    reached = bench.results.get("scaling", {}).get("runs", {}).get(str(workers), {}).get("docs_per_s_steady")
    rate = bench.args.scaling_latency_rate or 0.5 * float(reached or 0)
    if rate <= 0:
        raise RuntimeError(f"scaling_latency needs --scaling-latency-rate or the scaling run of {workers}")
    count = max(1, math.ceil(rate * bench.args.latency_seconds))
    pool = bench.all_lines
    # Past the corpus, copies under new uris (duplicates: cheap), counted as in the latency phase.
    values = [
        pool[i % len(pool)] if i < len(pool) else with_uri(pool[i % len(pool)], f"bench-slat-{i}")
        for i in range(count)
    ]
    result: dict[str, Any] = {"quota_cores": bench.args.scaling_quota, "shares": bench.args.scaling_shares}
    with _outside_quotas(bench, result):
        run, latencies = held_run(bench, "scaling_latency", workers, values, rate=rate, keep_latencies=True)
    run |= result | {
        "rate_target_per_s": round(rate, 2),
        "repeated_bodies": max(0, count - len(pool)),
        **latency_summary(latencies),
    }
    return run


@contextlib.contextmanager
def _outside_quotas(bench: Bench, result: dict[str, Any]) -> Iterator[None]:
    """The bench (the load generator) and the broker it started, in a group with no quota that weighs
    ``--scaling-shares`` like each worker's: on a machine other jobs share, the kernel gives them the CPU
    they ask for too. A broker the bench did not start (``WIREPIPE_KAFKA_BOOTSTRAP``) is left where it is."""
    pids = [os.getpid()]
    broker = bench.sampler.pid("broker")
    if broker is not None and str(bench.results.get("broker", "")).startswith("local broker"):
        pids.append(broker)
    result["outside_quotas"] = {"pids": pids, "broker_moved": len(pids) == 2}
    with cgroups.unlimited("free", pids, bench.args.scaling_shares):
        yield


@contextlib.contextmanager
def held_deployment(
    bench: Bench, name: str, workers: int
) -> Iterator[tuple[BenchDeployment, list[GroupedWorker], dict[str, Any]]]:
    """A fresh deployment with ``workers`` workers, each in a cgroup of its own, ready, in one stable group
    that holds every partition of the agents' topics. No quota yet: loading spaCy under 0.3 of a core would
    only add a minute per run. Quotas are lifted again before the workers are stopped, so they stop quickly.
    Started once more if an agent's topic is left unassigned, as in the other phases."""
    dep = BenchDeployment(bootstrap=bench.bootstrap, partitions=PARTITIONS, extra_env=bench.worker_env())
    dep.wirepipe("topics")
    topics = agent_topics(dep.app_id, dep.topics["raw"], PARTITIONS)
    required = dict(topics.values())
    bench.notes.pop(name, None)
    for attempt in (1, 2):
        with cgroups.groups(f"{dep.run_id}-a{attempt}", workers, bench.args.scaling_shares) as held:
            started = [
                GroupedWorker(dep, bench.log_dir, f"{name}-a{attempt}-w{i + 1}", group)
                for i, group in enumerate(held)
            ]
            try:
                for i, w in enumerate(started):
                    bench.sampler.watch(f"{name}.w{i + 1}", w.process.pid, tree=True)
                startup = {"ready_seconds": [round(w.wait_ready(timeout=240), 1) for w in started]}
                try:
                    stable = wait_group_stable(bench.bootstrap, dep.app_id, workers, required, timeout_s=180)
                except AssignmentIncompleteError as exc:
                    if attempt == 2:
                        raise
                    bench.notes.setdefault(name, []).append(f"restarted the workers: {exc}")
                    continue
                startup["group_stable_seconds"] = round(stable, 1)
                yield dep, started, startup
                return
            finally:
                for group in held:
                    with contextlib.suppress(OSError):
                        group.set_quota(None)
                for i, w in enumerate(started):
                    bench.sampler.unwatch(f"{name}.w{i + 1}")
                    w.stop()


def held_run(
    bench: Bench,
    name: str,
    workers: int,
    values: list[bytes],
    *,
    rate: float = 0.0,
    keep_latencies: bool = False,
) -> Any:
    """Produce ``values`` (keyed by uri) into quota-held workers, at once or at ``rate`` per second, and
    wait for every outcome; the figures of the run, and with ``keep_latencies`` the sorted latencies too."""
    quota = bench.args.scaling_quota
    with held_deployment(bench, name, workers) as (dep, started, startup):
        named = {f"w{i + 1}": w for i, w in enumerate(started)}
        topics = agent_topics(dep.app_id, dep.topics["raw"], PARTITIONS)
        held = assignment(bench.bootstrap, dep.app_id, named, topics)
        inside = {n: w.processes_in_group() for n, w in named.items()}
        strays = {n: [pid for pid, ok in procs.items() if not ok] for n, procs in inside.items()}
        if any(strays.values()) or any(len(procs) < 2 for procs in inside.values()):
            raise RuntimeError(f"{name}: a worker's processes are not all in its group: {inside}")
        for w in started:
            w.group.set_quota(quota)
        outputs = [dep.topics["enriched"], dep.topics["deadletter"]]
        # With latencies, the nlp topic too: when each article left the ingest and dedup hops.
        hop = Collector(bench.bootstrap, [topics["nlp"][0]]) if keep_latencies else contextlib.nullcontext()
        with Collector(bench.bootstrap, outputs) as collector, hop as nlp_topic:
            warm_up, warm_keys = _warm_up(bench, dep, collector, skip=len(values))
            # What a worker spends with nothing to do (timers, fetch loops, heartbeats, standby reads): at a
            # low rate that part of its quota is not there for articles.
            idle_before = {n: w.group.usage_seconds() for n, w in named.items()}
            time.sleep(IDLE_S)
            idle = {
                n: round((w.group.usage_seconds() - idle_before[n]) / IDLE_S, 3) for n, w in named.items()
            }
            throttled_before = {n: w.group.throttling() for n, w in named.items()}
            counters_before = {n: worker_totals(w) for n, w in named.items()}
            with Monitor(bench.bootstrap, dep.app_id, topics, named, bench.sampler) as monitor:
                sent = produce(
                    bench.bootstrap, dep.topics["raw"], ((uri_of(v), v) for v in values), rate=rate
                )
                timeout = max(300.0, len(values) * 1.0)
                complete = _wait_outcomes(collector, len(values), timeout_s=timeout, besides=warm_keys)
            counters = {n: delta(counters_before[n], worker_totals(w)) for n, w in named.items()}
            throttled = {n: delta(throttled_before[n], w.group.throttling()) for n, w in named.items()}
            held_after = assignment(bench.bootstrap, dep.app_id, named, topics)
            records = _measured(collector.records, warm_keys)
    if not complete:
        raise RuntimeError(
            f"{name}: {len(records)} of {len(values)} outcomes ({dict(Counter(kind(r) for r in records))}); "
            f"agent crashes: {crashes(bench.log_dir, name)[:2] or 'none'}; worker logs in {bench.log_dir}"
        )
    first_send = min(sent.timestamps_ms.values()) / 1000  # the producer's clock, as the outcomes' stamps
    stamps = sorted(r.timestamp_ms / 1000 for r in records)
    lo, hi = (min(len(stamps) - 1, math.floor(q * len(stamps))) for q in STEADY)
    t0, t1 = stamps[lo], stamps[hi]
    if keep_latencies or hi <= lo or t1 <= t0:  # at a fixed rate, or too few outcomes: the whole run
        t0, t1 = first_send, stamps[-1]
        lo, hi = 0, len(stamps) - 1
    seconds = max(r.arrived for r in records) - sent.started
    samples = monitor.samples
    result: dict[str, Any] = {
        "workers": workers,
        "articles": len(values),
        "quota_cores": quota,
        "seconds": round(seconds, 3),
        "docs_per_s": round(len(values) / seconds, 2),
        "steady": {"outcomes": [lo + 1, hi + 1], "seconds": round(t1 - t0, 2)},
        "docs_per_s_steady": round((hi - lo) / (t1 - t0), 2) if t1 > t0 else None,
        "produce_seconds": round(sent.finished - sent.started, 3),
        "outcomes": dict(Counter(kind(r) for r in records)),
        "startup": startup,
        "warm_up": warm_up,
        "idle_cores": idle,
        "stalled_partitions_read_again": stalls(bench.log_dir, name),
        "restarts": bench.notes.get(name, []),
        "agent_crashes": crashes(bench.log_dir, name),
        "assignment": held,
        "assignment_changed_during_run": held_after != held,
        "dedup_owner": dedup_owner(held, counters, len(values)),
        # every worker's CPU (worker and NLP process) per article of the run, and by part (/metrics)
        "cpu_ms_per_article": round(
            sum(samples[-1]["cpu"][n] - samples[0]["cpu"][n] for n in named) * 1000 / len(values), 2
        ),
        "cpu_ms_per_article_by_part": {
            part: round(sum(c.get(f"cpu.{part}", 0.0) for c in counters.values()) * 1000 / len(values), 2)
            for part in ("loop", "consumer", "other_threads", "nlp_process")
        },
        "processes_in_group": {n: len(p) for n, p in inside.items()},
        "per_worker": per_worker(
            named, counters=counters, throttled=throttled, samples=samples, window=(t0, t1), quota=quota
        ),
        **outside(samples, (t0, t1)),
        "lag_over_time": lag_series(samples, first_send, held),
        "cpu_over_time": cpu_series(samples, first_send),
        "monitor_errors": monitor.errors,
    }
    if not keep_latencies:
        return result
    stamped = sent.timestamps_ms
    latencies = sorted(r.timestamp_ms - stamped[r.key] for r in records if r.key in stamped)
    result["rate_achieved_per_s"] = round(len(values) / (sent.finished - sent.started), 2)
    result["matched"] = len(latencies)
    result["hops_ms"] = _hops(stamped, nlp_topic.records, records)
    return result, latencies


def _hops(raw_ms: dict[bytes, int], nlp: list[Outcome], outcomes: list[Outcome]) -> dict[str, Any]:
    """Where an enriched article's latency goes, by Kafka timestamps: raw record -> its envelope on the nlp
    topic (the ingest and dedup hops), and nlp topic -> outcome (the NLP step: waiting for a batch, the NLP
    process, publishing). Percentiles of each; duplicates never reach the nlp topic and are left out."""
    reached: dict[bytes, int] = {}
    for r in list(nlp):
        if r.key is not None:
            reached.setdefault(r.key, r.timestamp_ms)  # a copy read again later is not the article's hop
    pairs = [
        (reached[r.key] - raw_ms[r.key], r.timestamp_ms - reached[r.key])
        for r in outcomes
        if r.key in reached and r.key in raw_ms
    ]
    if not pairs:
        return {}
    out: dict[str, Any] = {"articles": len(pairs)}
    for i, part in enumerate(("ingest_and_dedup", "nlp_step")):
        values = sorted(p[i] for p in pairs)
        out[part] = {q: percentile(values, int(q[1:])) for q in ("p50", "p95", "p99")}
    return out


def _warm_up(
    bench: Bench, dep: BenchDeployment, collector: Collector, skip: int
) -> tuple[dict[str, Any], set[bytes]]:
    """A few articles the run does not use into every raw partition, waited for before the clock starts:
    the first batches, the dedup index's rebuild, and a partition Faust left unread after the group's last
    rebalance (the worker's stall watch reads it again after about a minute) are then behind the
    measurement, and reported here. Corpus articles past the input, else corpus articles with their words
    shuffled (new text: a near-duplicate of the input would turn the input's own articles into duplicates)."""
    count = WARM_UP_PER_PARTITION * PARTITIONS
    pool = bench.all_lines
    lines = pool[skip : skip + count]
    rng = random.Random(bench.args.seed)
    lines += [
        _shuffled(pool[i % len(pool)], f"bench-warm-{dep.run_id}-{i}", rng) for i in range(count - len(lines))
    ]
    partition_of: dict[bytes, int] = {}
    started = time.perf_counter()
    with producer(bench.bootstrap) as p:
        for i, line in enumerate(lines):
            key = uri_of(line)
            partition_of[key] = i % PARTITIONS
            p.send(dep.topics["raw"], key=key, value=line, partition=i % PARTITIONS)
        p.flush(timeout=60)
    keys = set(partition_of)
    deadline = time.monotonic() + WARM_UP_TIMEOUT_S
    arrived: dict[bytes, float] = {}
    while len(arrived) < len(keys) and time.monotonic() < deadline:
        for r in list(collector.records):
            if r.key in keys and r.key not in arrived:
                arrived[r.key] = r.arrived - started
        time.sleep(0.1)
    slowest: dict[int, float] = {}
    for key, partition in partition_of.items():
        slowest[partition] = max(slowest.get(partition, 0.0), arrived.get(key, math.inf))
    late = {p: round(s, 1) for p, s in sorted(slowest.items()) if s > 15}
    return {
        "articles": len(lines),
        "seconds": round(max(arrived.values(), default=0.0), 1),
        "complete": len(arrived) == len(keys),
        # raw partitions whose warm-up articles took over 15 s: left unread until read again
        "late_raw_partitions_seconds": {str(p): s for p, s in late.items()},
    }, keys


def _shuffled(line: bytes, uri: str, rng: random.Random) -> bytes:
    data = orjson.loads(line)
    for field in ("body_text", "body_html"):
        if isinstance(data.get(field), str):
            words = data[field].split()
            rng.shuffle(words)
            data[field] = " ".join(words)
    data["uri"] = uri
    return orjson.dumps(data)


def _measured(records: list[Outcome], besides: set[bytes]) -> list[Outcome]:
    """Outcomes (not tombstones) of the measured input: everything but the warm-up's."""
    return [r for r in list(records) if r.value is not None and r.key not in besides]


def _wait_outcomes(collector: Collector, count: int, timeout_s: float, besides: set[bytes]) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(_measured(collector.records, besides)) >= count:
            return True
        time.sleep(0.05)
    return False
