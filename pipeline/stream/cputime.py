"""CPU seconds of the worker by part, from the kernel's clocks: where a worker's CPU goes.

- ``loop``: the main thread, which runs the event loop: Faust's agents and streams, the producer (aiokafka
  runs its sender on this loop), the web server, and the stages run there (decode, clean, hash, dedup).
- ``consumer``: Faust's consumer thread (aiokafka's consumer on its own event loop: fetching, decoding
  record batches, heartbeats).
- ``other_threads``: every other thread of the worker (the NLP process pool's manager, the default
  executor), and threads that have ended.
- ``nlp_process``: the child process that runs spaCy, entities and quotes.

Per-thread clocks are exact (``pthread_getcpuclockid``); splitting the loop thread further (producer, Faust
streams, logging) needs a sampling profiler: ``bench/run.py``'s ``profile`` phase does that with py-spy.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_parts() -> dict[str, float]:
    """CPU seconds of this process so far: the loop thread, the consumer thread, everything else."""
    from faust.transport.consumer import ConsumerThread  # noqa: PLC0415 - the NLP process imports us too

    parts = {"loop": 0.0, "consumer": 0.0}
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            seconds = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, AttributeError):  # ended meanwhile, or a platform without thread clocks
            continue
        if thread is main:
            parts["loop"] += seconds
        elif isinstance(getattr(thread, "service", None), ConsumerThread):
            parts["consumer"] += seconds
    parts["other_threads"] = max(0.0, time.process_time() - parts["loop"] - parts["consumer"])
    return parts


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (Linux ``/proc``); None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def worker_parts(nlp_seconds: Callable[[], float]) -> dict[str, float]:
    """Every part of the worker, the NLP process's CPU from ``nlp_seconds``."""
    return {**thread_parts(), "nlp_process": nlp_seconds()}
