"""The bench's outputs: ``latest.json`` (everything), ``latest.md`` (a table) and ``latest.png`` (a chart)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench import scaling_report

THROUGHPUT = (
    ("baseline", "1. bare spaCy nlp.pipe"),
    ("offline", "2. wirepipe enrich"),
    ("one_worker", "3. broker, 1 worker"),
    ("baseline_again", "1b. bare spaCy nlp.pipe again"),
    ("two_workers", "4. broker, 2 workers"),
)


def write(results: dict[str, Any], out: Path) -> None:
    """Write the three files into ``out`` (overwritten on every call, so a partial run leaves its part)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "latest.md").write_text(markdown(results), encoding="utf-8")
    chart(results, out / "latest.png")
    scaling_report.chart(results, out / "scaling.png")


def one_line(phase: dict[str, Any]) -> str:
    """A short progress line for stderr."""
    if "error" in phase:
        return f"FAILED {phase['error']}"
    if "refused" in phase or "runs" in phase or ("latencies_ms" in phase and "workers" in phase):
        return scaling_report.one_line(phase)
    keys = (
        "docs_per_s",
        "words_per_s",
        "seconds",
        "p50_ms",
        "p99_ms",
        "duplicate_cost_vs_unique_timings",
        "articles_per_second",
        "loop_cpu_ms_per_envelope",
    )
    return " ".join(f"{k}={phase[k]}" for k in keys if k in phase)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def markdown(r: dict[str, Any]) -> str:
    """The figures as markdown tables, with the machine and load they were measured under."""
    m = r.get("machine", {})
    lines = [
        f"# Wirepipe bench, {r.get('started_at', '?')}",
        "",
        f"Machine: {m.get('nproc')} cores ({m.get('cpu_model')}), {m.get('memory_gib')} GiB; "
        f"load average at start {r.get('load_avg_start')}, at end {r.get('load_avg_end')}. "
        f"Broker: {r.get('broker')}. Corpus: first {r.get('corpus', {}).get('articles')} articles, "
        f"{r.get('corpus', {}).get('words')} words. Batch: {r.get('settings')}. "
        f"Command: `{r.get('command')}`" + (" (SMOKE: figures are not meaningful)" if r.get("smoke") else ""),
        "",
        "| phase | articles | seconds | docs/s | words/s | ratio | load before -> after |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    ratios = r.get("ratios", {})
    ratio_of = {
        "offline": ("offline_vs_baseline", "x (1)"),
        "one_worker": ("one_worker_vs_baseline", "x (1)"),
        "two_workers": ("two_workers_vs_one_worker", "x (3)"),
    }
    for name, label in THROUGHPUT:
        p = r.get(name)
        if not p:
            continue
        if "error" in p:
            lines.append(f"| {label} | failed: {p['error']} | | | | | |")
            continue
        key, unit = ratio_of.get(name, ("", ""))
        bar_row = "the bar (below)" if "baseline" in name else ""
        ratio = f"{ratios[key]:.2f} {unit}" if key in ratios else bar_row
        lines.append(
            f"| {label} | {p.get('articles')} | {_fmt(p.get('seconds'))} | {_fmt(p.get('docs_per_s'))} "
            f"| {_fmt(p.get('words_per_s'))} | {ratio} "
            f"| {p.get('load_avg_before')} -> {p.get('load_avg_after')} |"
        )
    the_bar = r.get("bar", {})
    if the_bar.get("timed") == 2:
        lines += [
            "",
            "The bar (the ratios' denominator): bare spaCy timed twice, before (1) and after (3) the "
            f"one-worker phase, mean time: {_fmt(the_bar.get('docs_per_s'))} docs/s.",
        ]
    numpy_blas = r.get("baseline", {}).get("reference_numpy_blas", {})
    if numpy_blas.get("docs_per_s"):
        lines += [
            "",
            "Reference, not the bar: the same bare `nlp.pipe` with its layers on numpy's BLAS (as the "
            f"worker runs them) did {_fmt(numpy_blas['docs_per_s'])} docs/s "
            f"({_fmt(ratios.get('baseline_on_numpy_blas_vs_baseline'))} x the bar, "
            f"{_fmt(numpy_blas.get('cpu_ms_per_article'))} CPU ms per article); one worker did "
            f"{_fmt(ratios.get('one_worker_vs_baseline_on_numpy_blas'))} x that.",
        ]
    offline = r.get("offline", {})
    if offline.get("parsed_tokens_share") is not None:
        lines += [
            "",
            f"Selective analysis: the dependency parse ran over {offline['parsed_tokens_share']:.1%} of the "
            f"body tokens ({offline.get('parsed_sentences_share', 0):.1%} of the sentences) in "
            "`wirepipe enrich`; NER over all of them.",
        ]
    lines += ["", "CPU during each phase (cores busy = CPU seconds / wall seconds, 2 cores = 2.0):", ""]
    for name in ("baseline", "one_worker", "two_workers", "duplicates"):
        p = r.get(name, {})
        if "machine_cores_busy" not in p:
            continue
        ours = ", ".join(
            f"{k} {v} s ({p['cpu_share'].get(k, 0):.0%})" for k, v in p.get("cpu_seconds", {}).items()
        )
        lines.append(
            f"- {name}: ours {p.get('cores_busy')} cores, whole machine {p['machine_cores_busy']}, "
            f"other processes {p.get('other_processes_cores_busy')}"
            + (f"; CPU seconds: {ours}" if ours else "")
        )
    proj = r.get("cpu_projection", {})
    if proj:
        lines += [
            "",
            "Projected on 2 idle cores from CPU seconds per article (not measured wall time; see README): "
            + ", ".join(f"{k} {v}" for k, v in proj.items()),
        ]
    lines += _per_core(r)
    lines += _cpu_per_article(r)
    ceiling = r.get("dedup_ceiling", {})
    if ceiling and "error" not in ceiling:
        lines += [
            "",
            "## The dedup partition's ceiling",
            "",
            f"One dedup agent worked through {ceiling.get('envelopes')} envelopes (a backlog on "
            f"`<app>.dedup`, verdicts {ceiling.get('verdicts')}), its worker's NLP process busy with what "
            f"it passed on: **{_fmt(ceiling.get('articles_per_second'))} articles/s** measured "
            f"(steady part: {ceiling.get('steady_window')}), its event loop spending "
            f"{_fmt(ceiling.get('loop_cpu_ms_per_envelope'))} CPU ms per envelope: "
            f"**{_fmt(ceiling.get('articles_per_second_on_an_idle_core'))} articles/s** "
            "on a core of its own. "
            + (
                f"One worker does {_fmt(ceiling.get('one_worker_per_second_on_idle_cores'))} articles/s on "
                f"cores of its own (its busiest process's CPU per article), so one dedup partition keeps up "
                f"with {_fmt(ceiling.get('workers_it_keeps_up_with'))} workers; twelve need "
                f"{_fmt(ceiling.get('twelve_workers_need_per_second'))}/s."
                if ceiling.get("workers_it_keeps_up_with")
                else ""
            ),
        ]
    dup = r.get("duplicates", {})
    if dup and "error" not in dup:
        t = dup.get("per_record_timings_ms", {})
        lines += [
            "",
            "## 5. Duplicates",
            "",
            f"{dup.get('articles')} articles (N plus a copy of each, shuffled) "
            f"in {_fmt(dup.get('seconds'))} s; "
            f"outcomes {dup.get('outcomes')}.",
            "",
            "| measure | unique | duplicate | duplicate / unique |",
            "|---|---:|---:|---:|",
            f"| per-record `timings_ms` total, mean (ms) | {_fmt(t.get('mean_total', {}).get('unique'))} "
            f"| {_fmt(t.get('mean_total', {}).get('duplicate'))} "
            f"| {_fmt(dup.get('duplicate_cost_vs_unique_timings'))} |",
            f"| wall time per article (ms) | {_fmt(dup.get('wall_ms_per_unique'))} "
            f"| {_fmt(dup.get('wall_ms_per_duplicate'))} "
            f"| {_fmt(dup.get('duplicate_cost_vs_unique_wall'))} |",
        ]
    lat = r.get("latency", {})
    if lat and "error" not in lat:
        lines += [
            "",
            "## 6. Latency at half load",
            "",
            f"{lat.get('articles')} articles at {lat.get('rate_achieved_per_s')}/s (target "
            f"{lat.get('rate_target_per_s')}/s) for {lat.get('seconds')} s; "
            "produce -> outcome by Kafka timestamps: "
            f"p50 {_fmt(lat.get('p50_ms'))} ms, p95 {_fmt(lat.get('p95_ms'))} ms, "
            f"p99 {_fmt(lat.get('p99_ms'))} ms, max {lat.get('max_ms')} ms "
            f"({lat.get('matched')} matched; {lat.get('repeated_bodies')} repeated bodies).",
        ]
    lines += scaling_report.markdown(r)
    mem = r.get("memory_mib", {})
    if mem:
        lines += [
            "",
            "## 7. Memory (peak RSS, MiB)",
            "",
            f"Workers: {mem.get('workers_peak_rss')}; broker: {mem.get('broker_peak_rss')}; "
            f"offline enrich: {mem.get('offline_peak_rss')}; bench process: {mem.get('bench_peak_rss')}.",
        ]
    goals = r.get("goals", {})
    if goals:
        lines += ["", "## Goals", "", "| goal | target | measured | met |", "|---|---|---:|---|"]
        for name, g in goals.items():
            met = {True: "yes", False: "**no**", None: "-"}[g["met"]]
            lines.append(f"| {name} | {g['goal']} | {_fmt(g['measured'])} | {met} |")
    return "\n".join(lines) + "\n"


_PARTS = (
    ("spacy", "spaCy (NLP process: nlp.pipe, every component)"),
    ("stages", "other stages (decode, clean, hash, dedup; entities, quotes)"),
    ("records", "envelopes and records (hop JSON, outcome records, NLP process IPC)"),
    ("event_loop", "event loop (agents, tables, asyncio, logging, metrics)"),
    ("consumer", "consumer (Faust's consumer thread + delivery and acks on the loop)"),
    ("producer", "producer (aiokafka producer on the loop)"),
    ("broker", "broker (the Kafka JVM)"),
    ("bench", "load generator (the bench's producer and collector; not Wirepipe)"),
)


def _per_core(r: dict[str, Any]) -> list[str]:
    c = r.get("per_core", {})
    if not c:
        return []
    wall = r.get("ratios", {}).get("one_worker_vs_baseline")
    lines = [
        "",
        "## Per core: how much of the ratio is a second core",
        "",
        f"Bare spaCy (one process, one core) spent {_fmt(c['baseline_cpu_ms_per_article'])} CPU ms per "
        f"article; one worker {_fmt(c['one_worker_cpu_ms_per_article'])} in its two processes (NLP process "
        f"and stream), keeping {_fmt(c['one_worker_cores_used'])} cores busy, and the broker "
        f"{_fmt(c['one_worker_broker_cpu_ms_per_article'])} more. Per CPU second a worker does "
        f"**{_fmt(c['one_worker_vs_baseline_per_core'])} x** the articles of bare spaCy "
        f"({_fmt(c['one_worker_vs_baseline_per_core_with_broker'])} x with the broker's CPU)"
        + (
            f"; the wall ratio {_fmt(wall)} x is that times {_fmt(c['one_worker_from_overlap'])}, the "
            "worker's cores busy over the baseline's: above 1 what the stream running beside spaCy on a "
            "second core adds, below 1 what other load on the machine took from the worker."
            if "one_worker_from_overlap" in c
            else "."
        ),
    ]
    if "two_workers_vs_one_per_core" in c:
        lines.append(
            f"Two workers spent {_fmt(c['two_workers_cpu_ms_per_article'])} CPU ms per article; one "
            "worker's CPU per article (with the broker's) over two workers' is "
            f"{_fmt(c['two_workers_vs_one_per_core'])}: on cores enough for both, two workers would do "
            "about twice that many times one worker's rate."
        )
    return lines


def _cpu_per_article(r: dict[str, Any]) -> list[str]:
    split = r.get("cpu_per_article", {})
    ms = split.get("ms_per_article", {})
    if not ms:
        return []
    lines = [
        "",
        "## CPU per article by part (one worker)",
        "",
        "The worker's parts (loop thread, consumer thread, other threads, NLP process) from its own clocks "
        "(`wirepipe_cpu_seconds_total`) over the one-worker phase; inside each part, the shares of py-spy "
        "samples from the `profile` phase; broker and load generator from psutil. See bench/README.md.",
        "",
        "| part | CPU ms / article |",
        "|---|---:|",
    ]
    for key, label in _PARTS:
        if key in ms:
            lines.append(f"| {label} | {_fmt(ms[key])} |")
    for part, value in split.get("unsplit_ms_per_article", {}).items():
        lines.append(f"| {part} (no profile samples to split it) | {_fmt(value)} |")
    own = sum(v for k, v in ms.items() if k in ("records", "event_loop", "consumer", "producer"))
    lines += [
        "",
        "Wirepipe's own stream cost (records + event loop + consumer + producer): "
        f"{_fmt(own)} ms per article; "
        f"bare spaCy in the baseline: {_fmt(split.get('baseline_spacy_ms_per_article'))} ms. "
        f"Worker parts (exact): {split.get('worker_parts_ms_per_article')}; "
        f"mean NLP batch {split.get('nlp_batch_mean')} articles; the NLP process held a batch "
        f"{_fmt(split.get('nlp_process_busy_share'))} of the phase's wall time.",
    ]
    return lines


def chart(r: dict[str, Any], path: Path) -> None:
    """Throughput bars (words/s per phase) and the latency histogram, side by side."""
    fig, (bars, hist) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [(label, r[k]["words_per_s"]) for k, label in THROUGHPUT if r.get(k, {}).get("words_per_s")]
    if names:
        labels, values = zip(*names, strict=True)
        colours = ["#4c72b0", "#55a868", "#c44e52", "#8172b2"][: len(values)]
        drawn = bars.barh(labels[::-1], values[::-1], color=colours[::-1])
        bars.bar_label(drawn, fmt="{:,.0f}", padding=3)
        bars.set_xlabel("words / s")
        bars.set_xlim(0, max(values) * 1.2)
    bars.set_title("Throughput")
    lat = r.get("latency", {}).get("latencies_ms") or []
    if lat:
        hist.hist(lat, bins=40, color="#4c72b0")
        for q, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            value = r["latency"][q]
            hist.axvline(value, color="black", linestyle=style, label=f"{q[:3]} {value:,.0f} ms")
        hist.legend()
        hist.set_xlabel("produce -> outcome (ms)")
        hist.set_ylabel("articles")
    hist.set_title(f"Latency at {r.get('latency', {}).get('rate_achieved_per_s', '?')} articles/s")
    m = r.get("machine", {})
    fig.suptitle(
        f"Wirepipe bench {r.get('started_at', '')[:10]}, {m.get('nproc')} cores, "
        f"load at start {r.get('load_avg_start')}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
