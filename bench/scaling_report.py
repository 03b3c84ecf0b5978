"""The scaling phase in ``latest.md`` (a section) and ``scaling.png`` (throughput per worker count against a
straight line, and the backlog over time), beside the bench's other outputs (bench/report.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def one_line(phase: dict[str, Any]) -> str:
    """The progress line for stderr."""
    if "refused" in phase:
        return f"REFUSED {phase['refused']}"
    if "runs" in phase:
        rates = {n: run.get("docs_per_s_steady", run.get("error", "?")) for n, run in phase["runs"].items()}
        return f"articles/s by workers {rates} ratios {phase.get('ratios')}"
    return (
        f"p50_ms={phase.get('p50_ms')} p99_ms={phase.get('p99_ms')} at {phase.get('rate_achieved_per_s')}/s"
    )


def markdown(r: dict[str, Any]) -> list[str]:
    """The scaling section: one row per run, the CPU of every worker against its quota, and the latency."""
    scaling, latency = r.get("scaling", {}), r.get("scaling_latency", {})
    if not scaling and not latency:
        return []
    lines = ["", "## Scaling: workers held to the same CPU quota each", ""]
    if "refused" in scaling:
        return [*lines, f"Not run: {scaling['refused']}."]
    if "error" in scaling:
        return [*lines, f"Failed: {scaling['error']}."]
    if scaling:
        lines += [
            f"Each worker with its NLP process in a cgroup of its own, held to "
            f"**{scaling.get('quota_cores')} "
            f"of a core** ({scaling.get('cfs_quota_us')} us per {scaling.get('cfs_period_us')} us period, "
            f"cpu.shares {scaling.get('shares')}); the broker and the bench outside every quota. "
            f"{scaling.get('articles')} articles into each fresh deployment ({scaling.get('partitions')} "
            "partitions) after a warm-up; articles/s over the steady part (10 % to 90 % of the outcomes).",
            "",
            "| workers | articles/s (steady) | x one | articles/s (first send to last outcome) | quota used "
            "per worker | broker cores | load generator cores | other processes cores | warm-up s | "
            "stalled partitions read again |",
            "|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
        ]
        ratios = scaling.get("ratios", {})
        for n, run in scaling.get("runs", {}).items():
            if "error" in run:
                lines.append(f"| {n} | failed: {run['error'][:300]} | | | | | | | | |")
                continue
            used = ", ".join(_fmt(w.get("steady_quota_used")) for w in run.get("per_worker", {}).values())
            stalled = run.get("stalled_partitions_read_again", [])
            stalls = ", ".join(f"{s['topic'].rsplit('.', 1)[-1]}:{s['partition']}" for s in stalled) or "none"
            lines.append(
                f"| {n} | {_fmt(run.get('docs_per_s_steady'))} | {_fmt(ratios.get(f'scaling_{n}_vs_1'))} "
                f"| {_fmt(run.get('docs_per_s'))} | {used} | {_fmt(run.get('broker_cores'))} "
                f"| {_fmt(run.get('load_generator_cores'))} | {_fmt(run.get('other_processes_cores_busy'))} "
                f"| {_fmt(run.get('warm_up', {}).get('seconds'), 1)} | {stalls} |"
            )
        owners = [
            f"{n} workers: {run['dedup_owner'].get('worker')} "
            f"{_fmt(run['dedup_owner'].get('loop_cpu_ms_per_article_over_the_others'), 3)} ms per article "
            f"({_fmt(run['dedup_owner'].get('share_of_its_cpu'), 3)} of its CPU)"
            for n, run in scaling.get("runs", {}).items()
            if run.get("dedup_owner", {}).get("loop_cpu_ms_per_article_over_the_others") is not None
        ]
        costs = [
            f"{n} workers {_fmt(run.get('cpu_ms_per_article'))} ({run.get('cpu_ms_per_article_by_part')})"
            for n, run in scaling.get("runs", {}).items()
            if run.get("cpu_ms_per_article")
        ]
        if costs:
            lines += [
                "",
                "CPU ms per article, all workers with their NLP processes (groups' cpuacct; by part from "
                f"/metrics): {'; '.join(costs)}. The ratios these alone allow (every worker at its quota): "
                f"{scaling.get('ratios_from_cpu_per_article')}.",
            ]
        if owners:
            lines += [
                "",
                "The dedup partition's owner, its loop thread's CPU over the other workers': "
                + "; ".join(owners),
            ]
        lines += ["", "Per worker (CPU of the worker and its NLP process, from its cgroup):", ""]
        lines += [
            "| workers | worker | partitions raw / nlp | dedup | outcomes | CPU ms per outcome | loop s "
            "| NLP process s | throttled s |",
            "|---|---|---|---|---:|---:|---:|---:|---:|",
        ]
        for n, run in scaling.get("runs", {}).items():
            for name, w in run.get("per_worker", {}).items():
                held = run.get("assignment", {}).get(name, {})
                parts = w.get("cpu_seconds_by_part", {})
                lines.append(
                    f"| {n} | {name} | {len(held.get('raw', []))} / {len(held.get('nlp', []))} "
                    f"| {'yes' if held.get('dedup') else ''} | {w.get('outcomes')} "
                    f"| {_fmt(w.get('cpu_ms_per_outcome'))} | {_fmt(parts.get('loop'))} "
                    f"| {_fmt(parts.get('nlp_process'))} | {_fmt(w.get('throttled_seconds'))} |"
                )
    if latency and "refused" not in latency and "error" not in latency:
        lines += [
            "",
            f"Latency with {latency.get('workers')} quota-held workers at half their rate: "
            f"{latency.get('articles')} articles at {_fmt(latency.get('rate_achieved_per_s'))}/s, "
            f"p50 {_fmt(latency.get('p50_ms'), 0)} ms, p95 {_fmt(latency.get('p95_ms'), 0)} ms, "
            f"**p99 {_fmt(latency.get('p99_ms'), 0)} ms**, max {latency.get('max_ms')} ms.",
        ]
        hops = latency.get("hops_ms", {})
        if hops:
            lines[-1] += (
                " Of an enriched article's latency, the ingest and dedup hops took "
                f"{hops['ingest_and_dedup']} and the NLP step (batch wait, NLP process, publishing) "
                f"{hops['nlp_step']} (ms)."
            )
    elif latency:
        lines += ["", f"Latency under scale: {latency.get('refused') or latency.get('error')}."]
    return lines


def chart(r: dict[str, Any], path: Path) -> None:
    """Articles/s per worker count against the straight line from one worker, and the backlog over time."""
    runs = {n: run for n, run in r.get("scaling", {}).get("runs", {}).items() if "error" not in run}
    if not runs:
        return
    fig, (bars, lag) = plt.subplots(1, 2, figsize=(12, 4.5))
    points = sorted((int(n.split("#")[0]), run.get("docs_per_s_steady") or 0.0) for n, run in runs.items())
    counts = sorted({c for c, _ in points})
    bars.plot([c for c, _ in points], [v for _, v in points], "o", label="measured (each run)")
    base = [v for c, v in points if c == 1]
    if base:
        bars.plot(counts, [base[0] * n for n in counts], "--", color="grey", label="n x one worker")
    bars.set_xticks(counts)
    bars.set_xlabel("workers")
    bars.set_ylabel("articles / s (steady)")
    bars.set_title(f"{r['scaling'].get('quota_cores')} core each")
    bars.legend()
    for n, run in runs.items():
        series = run.get("lag_over_time", [])
        lag.plot([p["t"] for p in series], [p.get("nlp", 0) for p in series], label=f"{n}")
    lag.set_xlabel("seconds since the first send")
    lag.set_ylabel("articles waiting for the NLP step")
    lag.set_title("Consumer lag on <app>.nlp")
    lag.legend(title="workers")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
