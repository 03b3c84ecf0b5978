"""Throughput of N worker containers against one, on the same input (a measurement, not a test).

    eval "$(deploy/containers.sh env)" && .venv/bin/python -m tests.containers.scale_throughput [--n 400]

For each worker count (1, then 3): a fresh compose project, `up --scale worker=N`, all workers healthy, the
first N corpus articles produced from the host, timed until every one has its outcome; the machine's CPU
time over the same interval (from /proc/stat) says how busy the two cores were. Prints one JSON line per
run and the ratio. Needs the shared corpus; takes about 4 minutes per run on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from tests.containers.stack import Stack
from tests.containers.test_compose import DEADLETTER, ENRICHED, RAW
from tests.faults._support import Input, Ledger, TopicReader, corpus, produce_inputs


def _cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as stat:
        fields = [float(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def run(workers: int, inputs: list[Input]) -> dict[str, float | int | list[float]]:
    stack = Stack()
    try:
        stack.compose("up", "-d", "--scale", f"worker={workers}")
        stack.wait_healthy("worker", workers)
        time.sleep(10)  # the group's first rebalance settles before the clock starts
        enriched, letters = TopicReader(stack.bootstrap, ENRICHED), TopicReader(stack.bootstrap, DEADLETTER)
        ledger = Ledger(RAW, [])
        busy0, total0 = _cpu()
        load0 = os.getloadavg()
        started = time.monotonic()
        ledger.inputs = produce_inputs(stack.bootstrap, RAW, inputs)
        while True:
            enriched.poll(0.5)
            letters.poll(0.5)
            ledger.read(enriched.records, letters.records)
            if not ledger.missing() or time.monotonic() - started > 1800:
                break
        seconds = time.monotonic() - started
        busy1, total1 = _cpu()
        enriched.close()
        letters.close()
        ncpu = os.cpu_count() or 1
        return {
            "workers": workers,
            "articles": len(inputs),
            "missing": len(ledger.missing()),
            "seconds": round(seconds, 1),
            "articles_per_s": round(len(inputs) / seconds, 2),
            "machine_cores_busy": round((busy1 - busy0) / (total1 - total0) * ncpu, 2),
            "load_avg_start": [round(x, 1) for x in load0],
        }
    finally:
        stack.compose("down", "-v", "--timeout", "30", check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400, help="corpus articles per run")
    ap.add_argument("--workers", default="1,3", help="worker counts to compare, the first is the baseline")
    args = ap.parse_args()
    articles = corpus()[: args.n]
    inputs = [
        Input(json.dumps(a).encode(), a["uri"], int(a.get("version", 1)), a["uri"], "new") for a in articles
    ]
    results = [run(int(n), inputs) for n in args.workers.split(",")]
    for result in results:
        print(json.dumps(result))
    base = float(str(results[0]["articles_per_s"]))
    for result in results[1:]:
        ratio = float(str(result["articles_per_s"])) / base
        versus = f"{result['workers']} vs {results[0]['workers']}"
        print(json.dumps({"workers": versus, "ratio": round(ratio, 2)}))


if __name__ == "__main__":
    main()
