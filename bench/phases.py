"""The bench's phases: each returns its figures as a dict (bench/README.md says what each one means)."""

from __future__ import annotations

import contextlib
import gc
import math
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import spacy

from bench import cpu_split
from bench.harness import (
    Bench,
    BenchDeployment,
    crashes,
    deployment,
    kind,
    latency_summary,
    mib,
    rates,
    run_stream,
    uri_of,
    with_uri,
)
from bench.measure import Collector, Outcome, cpu_delta, machine_cpu, produce, worker_counters
from pipeline.envelope import Envelope, Limits, Source
from pipeline.process import ingest
from pipeline.settings import Settings
from pipeline.stages.analysis.blas import model_ops
from tests.workers import WIREPIPE, Worker


def phase_baseline(bench: Bench, *, reference: bool = True) -> dict[str, Any]:
    """Bare ``nlp.pipe`` over the cleaned bodies: what a user would run instead of Wirepipe. The whole
    pipeline of the worker's model as ``spacy.load`` gives it (every component it enables by default,
    nothing of ours), at the worker's batch size. Never the worker's own (selective) analysis.

    Then, with ``reference``, and not the bar, the same bare pipeline with its layers on numpy's BLAS
    (``pipeline/stages/analysis/blas.py``, which the worker uses): how much of the worker's lead is the
    BLAS alone.
    ``baseline_again`` (after the one-worker phase) is the bar timed a second time, without the reference."""
    settings = Settings(**({"batch_size": bench.args.batch_size} if bench.args.batch_size else {}))
    nlp = spacy.load(settings.spacy_model)
    components = list(nlp.pipe_names)
    bodies = bench.corpus.bodies
    timed = _time_pipe(nlp, bodies, settings.batch_size)
    del nlp
    gc.collect()
    seconds = timed.pop("seconds")
    out = {
        "articles": len(bodies),
        "words": bench.corpus.words,
        "model": settings.spacy_model,
        "components": components,
        "batch_size": settings.batch_size,
        **timed,
        **rates(len(bodies), bench.corpus.words, seconds),
    }
    if reference:
        with model_ops("numpy"):
            on_numpy = spacy.load(settings.spacy_model)
        numpy_blas = _time_pipe(on_numpy, bodies, settings.batch_size)
        del on_numpy
        gc.collect()
        out["reference_numpy_blas"] = {
            "cpu_ms_per_article": numpy_blas["cpu_ms_per_article"],
            "other_processes_cores_busy": numpy_blas["other_processes_cores_busy"],
            **rates(len(bodies), bench.corpus.words, numpy_blas["seconds"]),
        }
    return out


def _time_pipe(nlp: Any, bodies: list[str], batch_size: int) -> dict[str, Any]:
    """Wall seconds, this process's cores and the machine's around one ``nlp.pipe`` over ``bodies``."""
    machine_before, self_before = machine_cpu(), time.process_time()
    started = time.perf_counter()
    for _ in nlp.pipe(bodies, batch_size=batch_size):
        pass
    seconds = time.perf_counter() - started
    machine_used, self_used = cpu_delta(machine_before, machine_cpu()), time.process_time() - self_before
    return {
        "seconds": seconds,
        "cpu_ms_per_article": round(self_used * 1000 / max(len(bodies), 1), 2),
        "cores_busy": round(self_used / seconds, 2),
        "machine_cores_busy": round(machine_used["busy"] / seconds, 2),
        "other_processes_cores_busy": round((machine_used["busy"] - self_used) / seconds, 2),
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
    end = next(e for e in logs if e.get("event") == "enrich.done")
    done = end["seconds"]
    n, words = len(bench.corpus.lines), bench.corpus.words
    return {
        "articles": n,
        "words": words,
        "wall_seconds_with_start": round(wall, 3),
        "model_load_seconds": loaded,
        "outcomes": dict(outcomes),
        "peak_rss_mib": mib(bench.sampler.peak_rss.get("offline", 0)),
        # how much of the bodies the selective analysis gave the dependency parse (1.0: all of it)
        "parsed_tokens_share": end.get("parsed_tokens_share"),
        "parsed_sentences_share": end.get("parsed_sentences_share"),
        **rates(n, words, done - loaded),
    }


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
        **latency_summary(latencies),
    }


def phase_profile(bench: Bench) -> dict[str, Any]:
    """One worker on the first ``--profile-n`` articles with py-spy sampling it and its NLP process: the
    shares of spaCy, stages, records, event loop, consumer and producer inside each part of the worker.
    A phase of its own because sampling slows the process it samples."""
    values = bench.corpus.lines[: bench.args.profile_n]
    raw = bench.log_dir / "profile.raw"

    @contextlib.contextmanager
    def sampled(workers: list[Worker]) -> Iterator[None]:
        with cpu_split.sampling(workers[0].process.pid, raw):
            yield

    result, _ = run_stream(bench, "profile", values, workers=1, around=sampled)
    samples = cpu_split.parse(raw.read_text(errors="replace") if raw.exists() else "")
    counters = result["worker_counters"][0]
    parts = {k.removeprefix("cpu."): v for k, v in counters.items() if k.startswith("cpu.")}
    return {
        "articles": len(values),
        "seconds": result["seconds"],
        "worker_counters": result["worker_counters"],
        "shares": {p: {c: round(s, 4) for c, s in shares.items()} for p, shares in samples.shares().items()},
        "split_of_this_phase": cpu_split.split(parts, samples, len(values)),
        "py_spy_log": raw.with_suffix(".log").read_text(errors="replace")[-500:]
        if raw.with_suffix(".log").exists()
        else "",
    }


def _dedup_envelopes(bench: Bench, count: int) -> list[bytes]:
    """``count`` envelopes as the ingest step writes them (cleaned and hashed here, in the bench): the
    corpus, then its articles again with their words shuffled (same length and vocabulary, new text)."""
    rng = random.Random(bench.args.seed)
    pool = bench.all_lines
    envelopes: list[bytes] = []
    for i in range(count * 2):
        if len(envelopes) == count:
            break
        data = orjson.loads(pool[i % len(pool)])
        if i >= len(pool):
            for field in ("body_text", "body_html"):
                if isinstance(data.get(field), str):
                    words = data[field].split()
                    rng.shuffle(words)
                    data[field] = " ".join(words)
            data["uri"] = f"bench-dedup-{i}"
        source = Source(value=orjson.dumps(data), topic="bench", partition=0, offset=i)
        with contextlib.suppress(Exception):  # a corpus line the pipeline dead-letters
            step = ingest(source, {}, Limits())
            if isinstance(step, Envelope):
                envelopes.append(step.to_wire())
    return envelopes


def phase_dedup_ceiling(bench: Bench) -> dict[str, Any]:
    """How many articles per second the single dedup partition's agent looks up and indexes.

    A backlog of envelopes goes onto ``<app>.dedup`` before the worker starts; while the dedup agent works
    through it (its worker's NLP process busy with what it passes on), the bench counts its outputs and
    reads the worker's loop-thread CPU every 0.25 s. Both figures come from the steady middle of the run
    (10 % to 90 % of the outputs): the rate, and the loop's CPU per envelope, which other load on the
    machine does not change (1000 / it: the rate on a core of its own)."""
    envelopes = _dedup_envelopes(bench, bench.args.dedup_n)

    def backlog(dep: BenchDeployment) -> None:
        produce(bench.bootstrap, f"{dep.app_id}.dedup", ((b"index", e) for e in envelopes))

    marks: list[tuple[float, int, float]] = []  # (bench clock, outputs so far, worker loop CPU seconds)
    with deployment(bench, "dedup_ceiling", 1, before_start=backlog) as (dep, started):
        outputs = [f"{dep.app_id}.nlp", dep.topics["enriched"]]
        with Collector(bench.bootstrap, outputs) as collector:
            deadline = time.monotonic() + max(180.0, len(envelopes) * 0.1)
            while time.monotonic() < deadline:
                loop_cpu = worker_counters(started[0].get("/metrics")).get("cpu.loop", 0.0)
                marks.append((time.perf_counter(), _dedup_outputs(collector.records), loop_cpu))
                if marks[-1][1] >= len(envelopes):
                    break
                time.sleep(0.25)
            records = [r for r in list(collector.records) if _is_dedup_output(r)]
    if len(records) < len(envelopes):
        passed = f"{len(records)} of {len(envelopes)}"
        raise RuntimeError(f"dedup_ceiling: {passed} envelopes passed the dedup step in time")
    steady = [m for m in marks if 0.1 * len(envelopes) <= m[1] <= 0.9 * len(envelopes)]
    if len(steady) < 2 or steady[-1][1] == steady[0][1]:  # a short run (smoke): the whole of it, from
        # the last reading before the first output (a lower bound on the rate: it counts a bit of waiting)
        steady = [next((m for m in reversed(marks) if m[1] == 0), marks[0]), marks[-1]]
    if steady[-1][1] == steady[0][1] or steady[-1][0] == steady[0][0]:
        few = f"{len(steady)} readings in the steady part"
        raise RuntimeError(f"dedup_ceiling: {few}, too few to measure (raise --dedup-n)")
    (t0, n0, cpu0), (t1, n1, cpu1) = steady[0], steady[-1]
    loop_ms = (cpu1 - cpu0) * 1000 / (n1 - n0)
    verdicts = Counter("duplicate" if r.topic == dep.topics["enriched"] else "unique" for r in records)
    result: dict[str, Any] = {
        "envelopes": len(envelopes),
        "verdicts": dict(verdicts),
        "steady_window": {"outputs": n1 - n0, "seconds": round(t1 - t0, 2), "readings": len(steady)},
        "articles_per_second": round((n1 - n0) / (t1 - t0), 1),
        # The loop also sends what the NLP process finished meanwhile: an upper bound for the dedup step.
        "loop_cpu_ms_per_envelope": round(loop_ms, 3),
        "articles_per_second_on_an_idle_core": round(1000 / loop_ms, 1) if loop_ms > 0 else None,
        "worker_logs": str(bench.log_dir),
    }
    # A worker's own pace on cores of its own: its busiest process (the NLP process, or its loop) per
    # article in the one-worker phase. The dedup agent's pace on its core over that: how many workers one
    # dedup partition keeps up with, whatever else loaded this machine.
    one = bench.results.get("one_worker", {})
    if one.get("worker_counters") and result["articles_per_second_on_an_idle_core"]:
        counters = one["worker_counters"][0]
        nlp = counters.get("cpu.nlp_process", 0.0)
        own = sum(v for k, v in counters.items() if k.startswith("cpu.") and k != "cpu.nlp_process")
        worker_per_second = one["articles"] / max(nlp, own)
        result["one_worker_per_second_on_idle_cores"] = round(worker_per_second, 1)
        ceiling = result["articles_per_second_on_an_idle_core"]
        result["workers_it_keeps_up_with"] = round(ceiling / worker_per_second, 1)
        result["twelve_workers_need_per_second"] = round(12 * worker_per_second, 1)
    return result


def _is_dedup_output(record: Outcome) -> bool:
    """What the dedup agent sends: an envelope on to the nlp topic, or a duplicate's outcome."""
    if record.value is None:
        return False
    if not record.topic.endswith(".nlp"):
        return bool(orjson.loads(record.value).get("outcome") == "duplicate")
    return True


def _dedup_outputs(records: list[Outcome]) -> int:
    return sum(1 for r in list(records) if _is_dedup_output(r))
