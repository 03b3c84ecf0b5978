"""1,000 hostile messages (hypothesis, derandomized) mixed into 1,000 good ones: one dead letter with the
expected code for each hostile message, one outcome for each good one, the worker alive, and the good
articles' throughput at least 80% of a clean run of the same 1,000 articles.

Throughput is asserted per CPU second, not per wall second: on 2 shared cores the wall-clock rate of two
runs a minute apart also measures whatever else the machine did meanwhile (one CI run read 0.73 by wall
clock while another job started). Hostile messages never reach the NLP process (each one is
dead-lettered by ingest, on the worker's loop), so that process does the same work in both runs: the
mixed run is charged the worker's own CPU plus the NLP process's CPU of the clean run. Measured as such,
the NLP process's CPU for the same 1,000 articles moved by up to 16% between two runs a minute apart
under CI load (28.4 then 32.9 ms per article in one run, 35.8 then 33.1 in another), far more than the
hostile messages cost, and it decided the result. That the NLP process did not in fact work much harder
in the mixed run is asserted on its own, with room for that noise. The plain sum of both processes' CPU
is reported too."""

from __future__ import annotations

import base64
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from tests.faults._support import (
    Input,
    Watch,
    article_stream,
    assert_exactly_one_outcome_each,
    env_int,
    produce_inputs,
    report,
)
from tests.faults.hostile import CLASSES, hostile_messages
from tests.workers import Deployment, Worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GOOD = env_int("WIREPIPE_FAULT_GOOD_N", 1_000)
HOSTILE = env_int("WIREPIPE_FAULT_HOSTILE_N", 1_000)


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of the worker's own process and of its children (spaCy runs in its NLP process)."""
    proc = psutil.Process(pid)
    own = proc.cpu_times()
    children = [c.cpu_times() for c in proc.children(recursive=True)]
    return float(own.user + own.system), float(sum(t.user + t.system for t in children))


CPU_PARTS: dict[str, tuple[float, float]] = {}  # run name -> CPU seconds (worker process, its children)


def _run(
    deployment: Deployment, logs: Path, name: str, inputs: list[Input]
) -> tuple[Watch, Worker, float, float]:
    """Start a worker, produce, wait for every input; returns the watch, the worker, and the good
    articles' rate per wall second and per worker CPU second."""
    watch = Watch(deployment)
    worker = Worker(deployment, logs, name)
    worker.wait_ready(timeout=300)
    cpu_started = _cpu_seconds(worker.process.pid)
    started = time.time()
    produced = produce_inputs(deployment.bootstrap, deployment.topics["raw"], inputs)
    watch.wait_all(produced, timeout_s=1_200, workers=[worker])
    own, children = (b - a for a, b in zip(cpu_started, _cpu_seconds(worker.process.pid), strict=True))
    CPU_PARTS[name] = (own, children)
    cpu = own + children
    # The good articles' last processed_at (the worker's clock) ends the run, whatever our polling rate.
    good = {(i.out_key, i.version) for i in produced if i.kind == "new"}
    last = max(
        datetime.fromisoformat(json.loads(v)["processed_at"]).timestamp()
        for k, v, _, _ in watch.enriched.records
        if v is not None and ((k or b"").decode(), json.loads(v)["version"]) in good
    )
    return watch, worker, len(good) / max(last - started, 1e-3), len(good) / max(cpu, 1e-3)


@pytest.mark.timeout(2_400)
def test_hostile_messages_become_coded_dead_letters_without_slowing_good_ones_much(
    new_deployment: Callable[..., Deployment], logs: Path
) -> None:
    good = article_stream(GOOD, specials=False)
    hostile = hostile_messages(HOSTILE)
    mixed = good + [Input(h.value, h.uri, 0, "", f"hostile:{h.category}") for h in hostile]
    random.Random(6).shuffle(mixed)

    clean_watch, clean_worker, clean_rate, clean_per_cpu = _run(new_deployment(), logs, "clean", good)
    clean_worker.stop()
    clean_watch.close()
    watch, worker, mixed_rate, mixed_per_cpu = _run(new_deployment(), logs, "mixed", mixed)
    try:
        ledger = watch.ledger
        alive = worker.process.poll() is None and '"alive"' in worker.get("/health")
        # Each hostile message's dead letter carries its original bytes and a code of its class.
        letters = {}
        for _, value, _, _ in watch.deadletter.records:
            data = json.loads(value or b"{}")
            letters[(int(data["partition"]), int(data["offset"]))] = data
    finally:
        worker.stop()
        watch.close()
    expected = {h.value: h for h in hostile}
    wrong_class: Counter[str] = Counter()
    for i in ledger.inputs:
        if not i.kind.startswith("hostile:"):
            continue
        letter = letters[(i.partition, i.offset)]
        assert base64.b64decode(letter["original_b64"]) == i.value
        h = expected[i.value]
        if letter["error_code"] not in CLASSES[h.category] or letter["error_code"] != h.code:
            wrong_class[f"{h.category}:{letter['error_code']}"] += 1
    own_clean, nlp_clean = CPU_PARTS["clean"]
    own_mixed, nlp_mixed = CPU_PARTS["mixed"]
    charged_per_cpu = GOOD / max(own_mixed + nlp_clean, 1e-3)
    report(
        "hostile",
        good=GOOD,
        hostile=HOSTILE,
        clean_good_per_s=round(clean_rate, 1),
        mixed_good_per_s=round(mixed_rate, 1),
        ratio=round(mixed_rate / clean_rate, 2),
        clean_good_per_cpu_s=round(clean_per_cpu, 1),
        mixed_good_per_cpu_s=round(mixed_per_cpu, 1),
        ratio_per_cpu_s=round(mixed_per_cpu / clean_per_cpu, 2),
        ratio_per_cpu_s_nlp_of_clean_run=round(charged_per_cpu / clean_per_cpu, 2),
        worker_cpu_ms_per_hostile=round((own_mixed - own_clean) * 1000 / HOSTILE, 2),
        cpu_ms_per_good={k: [round(v * 1000 / GOOD, 2) for v in parts] for k, parts in CPU_PARTS.items()},
        categories=dict(Counter(h.category for h in hostile)),
        **ledger.summary(),
    )
    assert alive
    assert_exactly_one_outcome_each(ledger)
    assert not wrong_class, wrong_class
    assert sum(ledger.codes.values()) == HOSTILE, ledger.codes  # the good articles give no dead letters
    assert sum(ledger.kinds.values()) == GOOD, ledger.kinds
    # The same 1,000 articles cost the NLP process about the same CPU with hostile messages mixed in
    # (between-run noise under load reached 16%; hostile messages reaching spaCy would cost far more).
    assert nlp_mixed <= 1.3 * nlp_clean, (nlp_mixed, nlp_clean)
    # The bar: good articles keep 80% of their clean-run throughput with hostile ones mixed in.
    assert charged_per_cpu >= 0.8 * clean_per_cpu, (charged_per_cpu, clean_per_cpu)
