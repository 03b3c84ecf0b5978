"""Three worker containers against one at the same CPU limit (docker-compose.yml's ``WIREPIPE_WORKER_CPUS``).

A measurement more than a test, and about 10 minutes on 2 cores, so `make compose-test` (and CI) skips it;
it runs when ``WIREPIPE_SCALE_CPUS`` names the limit:

    make compose-test PYTEST_ARGS="-k cpu_limit -s" WIREPIPE_SCALE_CPUS=0.3

It checks what can be checked whatever the machine's load (the limit is in every worker container's cgroup,
the kernel throttled them, every article came out) and writes the figures to
``bench/results/compose-scale.json``; the ratio is reported, not asserted (bench/README.md, "Scaling").
"""

from __future__ import annotations

import json
import os

import pytest

from tests.containers.scale_throughput import measure
from tests.containers.stack import ROOT

pytestmark = pytest.mark.containers

CPUS = os.environ.get("WIREPIPE_SCALE_CPUS", "")
N = int(os.environ.get("WIREPIPE_SCALE_N", "600"))


@pytest.mark.skipif(not CPUS, reason="a measurement: set WIREPIPE_SCALE_CPUS (e.g. 0.3) to run it")
def test_three_workers_against_one_at_the_same_cpu_limit() -> None:
    result = measure(float(CPUS), N, [1, 3])
    out = ROOT / "bench" / "results" / "compose-scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ratios"]), f"(figures in {out})")
    for run in result["runs"]:
        assert run["articles"] == N
        workers = {k: v for k, v in run["containers"].items() if not k.startswith("kafka:")}
        assert len(workers) == run["workers"]
        assert set(run["limits"].values()) == {float(CPUS)}
    single = next(iter(result["runs"][0]["containers"].values()))
    assert single["throttled_periods"] > 0, "one worker with a backlog never ran into its limit"
