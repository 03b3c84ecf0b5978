"""Throughput of N worker containers against one, each held to the same CPU limit (a measurement, not a test).

    eval "$(deploy/containers.sh env)" && .venv/bin/python -m tests.containers.scale_throughput --cpus 0.3
    make compose-test PYTEST_ARGS="-k cpu_limit -s" WIREPIPE_SCALE_CPUS=0.3     # the same, as an opt-in test

For each worker count (1, then 3): a fresh compose project, ``WIREPIPE_WORKER_CPUS`` (docker-compose.yml's
``cpus:`` for the worker service) set to ``--cpus``, ``up --scale worker=N``, every worker healthy and the
group stable; then the limit is checked where the kernel applies it (each worker container's cgroup:
``cpu.cfs_quota_us`` / ``cpu.max``), a few articles go into every raw partition and are waited for (warm-up),
and the first ``--n`` corpus articles are produced from the host at once. Articles/s over the steady part
(10 % to 90 % of the outcomes, by their Kafka timestamps), as in ``make bench``'s scaling phase; each
container's CPU and throttled time from its cgroup, sampled every second. Prints one JSON line per run and
the ratio. The broker container has no limit; the producer and reader run on the host.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.measure import Collector, machine_cpu, producer, wait_group_stable
from bench.scaling_monitor import at
from tests.containers.stack import Stack
from tests.containers.test_compose import DEADLETTER, ENRICHED, RAW
from tests.faults._support import CORPUS

PARTITIONS = 12  # WIREPIPE_PARTITIONS in docker-compose.yml
APP_ID = "wirepipe"
WARM_UP_PER_PARTITION = 2
STEADY = (0.1, 0.9)


class ContainerCgroup:
    """A running container's CPU limit, usage and throttling, read from its cgroup (v1 or v2)."""

    def __init__(self, pid: int) -> None:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        paths = {c: p for _, cs, p in (line.split(":", 2) for line in lines) for c in cs.split(",")}
        if "cpu" in paths:  # v1: the cpu and cpuacct hierarchies (mounted apart here, or together)
            self.cpu = Path("/sys/fs/cgroup/cpu") / paths["cpu"].lstrip("/")
            acct = Path("/sys/fs/cgroup/cpuacct") / paths.get("cpuacct", paths["cpu"]).lstrip("/")
            self.acct = acct if acct.exists() else self.cpu
            self.v2 = False
        else:  # v2: one directory
            self.cpu = self.acct = Path("/sys/fs/cgroup") / paths[""].lstrip("/")
            self.v2 = True

    def limit_cores(self) -> float | None:
        if self.v2:
            quota, period = (self.cpu / "cpu.max").read_text().split()
            return None if quota == "max" else int(quota) / int(period)
        quota = int((self.cpu / "cpu.cfs_quota_us").read_text())
        return None if quota < 0 else quota / int((self.cpu / "cpu.cfs_period_us").read_text())

    def stat(self) -> dict[str, float]:
        """CPU seconds used, periods, throttled periods and throttled seconds so far."""
        stat = dict(line.split() for line in (self.cpu / "cpu.stat").read_text().splitlines() if line)
        if self.v2:
            return {
                "cpu": int(stat["usage_usec"]) / 1e6,
                "periods": int(stat.get("nr_periods", 0)),
                "throttled_periods": int(stat.get("nr_throttled", 0)),
                "throttled": int(stat.get("throttled_usec", 0)) / 1e6,
            }
        return {
            "cpu": int((self.acct / "cpuacct.usage").read_text()) / 1e9,
            "periods": int(stat.get("nr_periods", 0)),
            "throttled_periods": int(stat.get("nr_throttled", 0)),
            "throttled": int(stat.get("throttled_time", 0)) / 1e9,
        }


def _cgroups(stack: Stack, service: str) -> dict[str, ContainerCgroup]:
    return {c["Name"].lstrip("/"): ContainerCgroup(int(c["State"]["Pid"])) for c in stack.containers(service)}


class Sampler(threading.Thread):
    """Every second: each container's cgroup stat, this process's CPU and the machine's busy CPU."""

    def __init__(self, groups: dict[str, ContainerCgroup]) -> None:
        super().__init__(daemon=True)
        self.groups = groups
        self.samples: list[dict[str, Any]] = []
        self._done = threading.Event()
        self._me = psutil.Process()

    def sample(self) -> None:
        times = self._me.cpu_times()
        self.samples.append(
            {
                "t": time.time(),
                "groups": {name: g.stat() for name, g in self.groups.items()},
                "host_load_generator": times.user + times.system,
                "machine_busy": machine_cpu()["busy"],
            }
        )

    def run(self) -> None:
        while not self._done.wait(1.0):
            self.sample()

    def finish(self) -> None:
        self._done.set()
        self.join(timeout=5)
        self.sample()


def _lines(n: int) -> list[bytes]:
    lines = [line for line in CORPUS.read_bytes().splitlines() if line.strip()]
    return lines[: n + WARM_UP_PER_PARTITION * PARTITIONS]


def _uri(line: bytes) -> bytes:
    return str(orjson.loads(line)["uri"]).encode()


def _wait(collector: Collector, keys: set[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len({r.key for r in list(collector.records) if r.key in keys}) >= len(keys):
            return True
        time.sleep(0.2)
    return False


@contextlib.contextmanager
def _weighing(groups: dict[str, ContainerCgroup], shares: int) -> Iterator[None]:
    """The engine's parent group of the containers (Podman's ``libpod_parent``) weighs ``shares`` against
    the host's other processes for the measurement, then what it weighed before. By default every
    container together weighs as much as one busy host process (1024), so on a machine other jobs share
    the workers would not get their limit. cgroup v1 only; 0 leaves it alone."""
    parents = {g.cpu.parent for g in groups.values() if not g.v2}
    if not shares or len(parents) != 1:
        yield
        return
    weight = parents.pop() / "cpu.shares"
    before = weight.read_text().strip()
    weight.write_text(str(shares))
    try:
        yield
    finally:
        weight.write_text(before)


def run(workers: int, cpus: float, lines: list[bytes], n: int, parent_shares: int = 8192) -> dict[str, Any]:
    """One fresh stack with ``workers`` worker containers limited to ``cpus`` each; the figures."""
    stack = Stack(extra_env={"WIREPIPE_WORKER_CPUS": str(cpus)})
    try:
        started = time.monotonic()
        stack.compose("up", "-d", "--scale", f"worker={workers}")
        stack.wait_healthy("worker", workers)
        required = {RAW: PARTITIONS, f"{APP_ID}.dedup": 1, f"{APP_ID}.nlp": PARTITIONS}
        wait_group_stable(stack.bootstrap, APP_ID, workers, required, timeout_s=300)
        startup_s = time.monotonic() - started
        workers_cg, kafka_cg = _cgroups(stack, "worker"), _cgroups(stack, "kafka")
        limits = {name: g.limit_cores() for name, g in workers_cg.items()}
        if any(limit is None or abs(limit - cpus) > 0.005 for limit in limits.values()):
            raise AssertionError(f"the worker containers' cgroups do not hold them to {cpus} cores: {limits}")
        warm, measured = lines[n:], lines[:n]
        outputs = [ENRICHED, DEADLETTER]
        with _weighing(workers_cg, parent_shares), Collector(stack.bootstrap, outputs) as collector:
            warm_started = time.monotonic()
            with producer(stack.bootstrap) as p:
                for i, line in enumerate(warm):
                    p.send(RAW, key=_uri(line), value=line, partition=i % PARTITIONS)
            if not _wait(collector, {_uri(line) for line in warm}, timeout_s=300):
                raise AssertionError("the warm-up articles did not all come out within 300 s")
            warm_up_s = time.monotonic() - warm_started
            sampler = Sampler({**workers_cg, **{f"kafka:{k}": g for k, g in kafka_cg.items()}})
            sampler.sample()
            sampler.start()
            keys = {_uri(line) for line in measured}
            sent_at = time.time()
            with producer(stack.bootstrap) as p:
                for line in measured:
                    p.send(RAW, key=_uri(line), value=line)
            complete = _wait(collector, keys, timeout_s=max(600.0, 2.0 * n))
            sampler.finish()
            records = [r for r in list(collector.records) if r.key in keys and r.value is not None]
        if not complete:
            raise AssertionError(f"{len({r.key for r in records})} of {len(keys)} articles came out")
        return _figures(workers, cpus, records, sampler.samples, sent_at) | {
            "startup_seconds": round(startup_s, 1),
            "warm_up_seconds": round(warm_up_s, 1),
            "limits": limits,
        }
    finally:
        stack.compose("down", "-v", "--timeout", "30", check=False)


def _figures(
    workers: int, cpus: float, records: list[Any], samples: list[dict[str, Any]], sent_at: float
) -> dict[str, Any]:
    stamps = sorted(r.timestamp_ms / 1000 for r in records)
    lo, hi = (min(len(stamps) - 1, math.floor(q * len(stamps))) for q in STEADY)
    t0, t1 = stamps[lo], stamps[hi]
    span = t1 - t0

    def cores(read: Any) -> float:
        return round((at(samples, t1, read) - at(samples, t0, read)) / span, 3)

    per_container = {}
    for name in samples[0]["groups"]:
        first, last = samples[0]["groups"][name], samples[-1]["groups"][name]
        used = cores(lambda s, n=name: s["groups"][n]["cpu"])
        per_container[name] = {
            "steady_cores": used,
            "steady_limit_used": round(used / cpus, 3) if not name.startswith("kafka") else None,
            "throttled_periods": int(last["throttled_periods"] - first["throttled_periods"]),
            "periods": int(last["periods"] - first["periods"]),
            "throttled_seconds": round(last["throttled"] - first["throttled"], 2),
        }
    return {
        "workers": workers,
        "cpus_per_worker": cpus,
        "articles": len(records),
        "seconds_first_send_to_last_outcome": round(stamps[-1] - sent_at, 1),
        "articles_per_s": round(len(records) / (stamps[-1] - sent_at), 2),
        "articles_per_s_steady": round((hi - lo) / span, 2),
        "containers": per_container,
        "load_generator_cores": cores(lambda s: s["host_load_generator"]),
        "machine_cores_busy": cores(lambda s: s["machine_busy"]),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def measure(cpus: float, n: int, counts: list[int], parent_shares: int = 8192) -> dict[str, Any]:
    """Every run, and each run's steady articles/s over the first run's."""
    lines = _lines(n)
    runs = [run(count, cpus, lines, n, parent_shares) for count in counts]
    base = runs[0]["articles_per_s_steady"]
    ratios = {f"{r['workers']}_vs_{counts[0]}": round(r["articles_per_s_steady"] / base, 3) for r in runs[1:]}
    return {"runs": runs, "ratios": ratios}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpus", type=float, default=0.3, help="CPU limit of every worker container")
    ap.add_argument("--n", type=int, default=600, help="corpus articles per run")
    ap.add_argument("--workers", default="1,3", help="worker counts to compare, the first is the baseline")
    ap.add_argument("--parent-shares", type=int, default=8192, help="cpu.shares of the containers' parent")
    args = ap.parse_args()
    result = measure(args.cpus, args.n, [int(c) for c in args.workers.split(",")], args.parent_shares)
    for r in result["runs"]:
        print(json.dumps(r))
    print(json.dumps(result["ratios"]))


if __name__ == "__main__":
    main()
