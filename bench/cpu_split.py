"""Where a worker's CPU goes per article: spaCy, the other stages, envelopes and records, the event loop,
the consumer, the producer (and, from the bench, the broker and the load generator).

Two measurements combine (bench/README.md, "CPU per article by part"):

1. Exact totals per part of the worker from its own clocks (``wirepipe_cpu_seconds_total{part}``: the
   event-loop thread, Faust's consumer thread, other threads, the NLP process), read around the measured
   phase.
2. Shares inside each part from py-spy samples, taken in a separate ``profile`` phase (sampling slows the
   process it samples, so the measured phases are never sampled): each sample is put in a category by the
   innermost frame that names one (``classify``), samples of a waiting thread are dropped, and each part's
   exact CPU is divided by its samples' shares.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The categories, in the order of the report, and what each holds.
CATEGORIES = {
    "spacy": "spaCy: the NLP pass (the selective analysis: its components and the choice of what to parse; "
    "or nlp.pipe with every component, what the baseline runs)",
    "stages": "other stages: decode, clean, hash, dedup (event loop); entities, quotes (NLP process)",
    "records": "envelopes and records: hop JSON, outcome and quote records, passing batches to and "
    "from the NLP process",
    "event_loop": "event loop: Faust agents and tables, asyncio, logging, metrics",
    "consumer": "consumer: Faust's consumer thread, and delivering and acking messages on the loop",
    "producer": "producer: aiokafka's producer on the loop (sends, batches, acknowledgements)",
}

# The selective analysis stands where the baseline's nlp.pipe stands: its planning counts as spaCy's work,
# and so does the transition loop of ner and the parser that transitions.py steps (spaCy's own pieces).
_ANALYSIS_FILES = (
    "pipeline/stages/analysis/selective.py",
    "pipeline/stages/analysis/cache.py",
    "pipeline/stages/analysis/transitions.py",
)
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]*):\d+\)$")
# A thread whose innermost frame is in one of these files is waiting (for I/O, a lock, a queue), not working.
_WAIT_FILES = (
    "selectors.py",
    "threading.py",
    "queue.py",
    "multiprocessing/connection.py",
    "multiprocessing/queues.py",
    "multiprocessing/synchronize.py",
)
_SPACY_FILES = ("spacy/", "thinc/", "blis/", "srsly/", "cymem/", "preshed/")
_PRODUCER_FILES = (
    "aiokafka/",  # on the loop thread only the producer's client runs (the consumer has its own thread)
    "faust/transport/producer.py",
    "faust/topics.py",
    "faust/channels.py",
    "pipeline/stream/topic.py",
)
_CONSUMER_FILES = (
    "faust/transport/consumer.py",
    "faust/transport/conductor.py",
    "faust/transport/drivers/aiokafka.py",
    "faust/streams.py",
    "faust/events.py",
    "mode/threads.py",
    "pipeline/stream/acks.py",
)
_RECORD_FILES = ("pipeline/stream/outputs.py", "pydantic/", "multiprocessing/", "concurrent/futures/")
_HOP_FUNCTIONS = ("to_wire", "parse", "envelope", "source", "__init__")  # process.Envelope


@dataclass
class Samples:
    """py-spy samples by worker part (loop, consumer, other_threads, nlp_process) and category."""

    by_part: dict[str, Counter[str]] = field(default_factory=dict)
    idle: int = 0

    def shares(self) -> dict[str, dict[str, float]]:
        return {
            part: {cat: n / sum(counts.values()) for cat, n in counts.items()}
            for part, counts in self.by_part.items()
            if sum(counts.values())
        }


def _frames(stack: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The process/thread header frames and the (function, file) frames, outermost first."""
    headers, frames = [], []
    for raw in stack.split(";"):
        match = _FRAME.match(raw)
        if match and not raw.startswith(("process ", "thread (")):
            frames.append((match["function"], match["file"]))
        else:
            headers.append(raw)
    return headers, frames


def classify(frames: list[tuple[str, str]], part: str) -> str:
    """The category of one sample: the innermost frame that names one decides."""
    if part == "consumer":
        return "consumer"
    if any(function == "Language.pipe" for function, _ in frames):
        return "spacy"
    for function, file in reversed(frames):
        if file.startswith(_SPACY_FILES) or file in _ANALYSIS_FILES:
            return "spacy"
        if file.startswith("pipeline/stages/"):
            return "stages"
        if file == "pipeline/wire.py":
            return "records" if function.rsplit(".", 1)[-1] != "check_duplicate_wire" else "stages"
        if file == "pipeline/enricher.py":  # the NLP step around the analysis: entities, quotes
            return "stages"
        if file == "pipeline/process.py":
            name = function.rsplit(".", 1)[-1]
            return "records" if name in _HOP_FUNCTIONS else "stages"
        if file.startswith(_RECORD_FILES):
            return "records"
        if part == "loop" and file.startswith(_PRODUCER_FILES):
            return "producer"
        if file.startswith(_CONSUMER_FILES):
            return "consumer"
    return "event_loop"


def parse(raw: str) -> Samples:
    """Samples from py-spy's raw output (``--threads --subprocesses``), by part and category."""
    samples = Samples()
    role_of: dict[str, str] = {}  # thread id -> part, learnt from its complete stacks
    lines: list[tuple[str, list[tuple[str, str]], int]] = []
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        headers, frames = _frames(stack)
        processes = [h for h in headers if h.startswith("process ")]
        process = processes[-1] if processes else ""  # the innermost: a child is listed under its parent
        thread = next((h for h in headers if h.startswith("thread (")), "")
        tid = thread.split(")", 1)[0]
        if "multiprocessing.spawn" in process:
            role_of[tid] = "nlp_process"
        elif "resource_tracker" in process:
            role_of[tid] = "other_threads"
        elif thread.endswith("MainThread"):
            role_of[tid] = "loop"
        elif any(function == "WorkerThread.run" for function, _ in frames):
            role_of[tid] = "consumer"
        lines.append((tid, frames, int(count_text)))
    for tid, frames, count in lines:
        if not frames or frames[-1][1] in _WAIT_FILES:
            samples.idle += count
            continue
        part = role_of.get(tid, "other_threads")
        samples.by_part.setdefault(part, Counter())[classify(frames, part)] += count
    return samples


def split(parts_seconds: dict[str, float], samples: Samples, articles: int) -> dict[str, Any]:
    """CPU ms per article by category: each part's exact CPU seconds times its categories' sample shares.

    A part without samples keeps its CPU under ``unsplit``."""
    shares = samples.shares()
    ms: dict[str, float] = {}
    unsplit: dict[str, float] = {}
    for part, seconds in parts_seconds.items():
        if part == "consumer":
            ms["consumer"] = ms.get("consumer", 0.0) + seconds
        elif part in shares:
            for category, share in shares[part].items():
                ms[category] = ms.get(category, 0.0) + seconds * share
        else:
            unsplit[part] = seconds
    # Every category once something was sampled: one without samples measured 0 (a short profile may catch
    # no producer sample, say), which is a figure, not a missing one.
    per_article = {cat: round(ms.get(cat, 0.0) * 1000 / articles, 2) for cat in CATEGORIES} if ms else {}
    return {
        "ms_per_article": per_article,
        "unsplit_ms_per_article": {p: round(s * 1000 / articles, 2) for p, s in unsplit.items()},
        "samples": {part: dict(counts) for part, counts in samples.by_part.items()},
        "idle_samples": samples.idle,
    }


def py_spy() -> str | None:
    """The py-spy executable (a dev extra), or None."""
    found = shutil.which("py-spy") or str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy")
    return found if Path(found).exists() else None


@contextlib.contextmanager
def sampling(pid: int, out: Path, rate: int = 100) -> Iterator[Path]:
    """py-spy on ``pid`` and its children while the block runs (non-blocking: the worker is not paused);
    the raw samples are in the yielded file afterwards. Raises ``RuntimeError`` when py-spy is missing."""
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (pip install -e '.[dev]')")
    command = [exe, "record", "--pid", str(pid), "--subprocesses", "--threads", "--nonblocking"]
    command += ["--rate", str(rate), "--format", "raw", "--output", str(out)]
    log = out.with_suffix(".log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield out
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
