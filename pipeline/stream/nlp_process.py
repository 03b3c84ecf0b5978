"""The NLP step in a child process, so spaCy and the worker's event loop do not share one GIL.

In one process, the executor thread running spaCy and the event loop (Faust, the Kafka clients, cleaning,
dedup) take turns on the GIL: while one holds it the other waits, and every forced switch costs both of
them cache misses. spaCy's own CPU per article measured up to 10 % higher beside a Python thread busy 30 % of
the time (the loop's share), and the loop's stage timings inflated by the waits (bench/README.md). In a child
process each runs on its own core; the price is pickling the envelopes there and the outcomes back.

The child loads the model once (``Enricher``) and exits with its parent (``PR_SET_PDEATHSIG``), so a killed
worker leaves no orphan holding 300 MB. A child that dies (out of memory, a crash in native code) makes
``finish`` raise ``NlpProcessDiedError``; the next call starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import signal
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from pipeline.enricher import Enricher
from pipeline.logs import configure_logging, get_logger
from pipeline.memory import tune_malloc
from pipeline.process import finish
from pipeline.stages.analysis.blas import Blas
from pipeline.stages.changes import StorySnapshot
from pipeline.stream.cputime import process_cpu_seconds
from pipeline.stream.outputs import Published, outcome_outputs
from pipeline.wire import WireEnvelope
from schemas.records import DeadLetter

log = get_logger("wirepipe.nlp")

_PR_SET_PDEATHSIG = 1
_enricher: Enricher | None = None  # the child's, built once by ``_start``
_load_error: Exception | None = None  # why it could not be built, raised in the parent by ``_ready``


class NlpProcessDiedError(RuntimeError):
    """The child process running spaCy died while it held a batch."""


@dataclass(frozen=True)
class Unreadable:
    """An nlp-topic message that is not an envelope (``WireEnvelope.parse`` or validation failed)."""

    error: str


NlpResult = Published | DeadLetter | Unreadable


@dataclass(frozen=True)
class NlpConfig:
    """What the child needs to build its ``Enricher`` and log like its parent."""

    model: str
    batch_size: int
    selective: bool = True  # the selective analysis (WIREPIPE_SELECTIVE_PARSE)
    blas: Blas = "numpy"  # the model layers' matrix library (WIREPIPE_BLAS)
    log_level: str = "INFO"
    log_format: str = "auto"
    tune_malloc: bool = True
    quote_min_confidence: float = 0.0  # publish only quotes this sure (WIREPIPE_QUOTE_MIN_CONFIDENCE)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the thread that started it ends (the worker's main thread,
    so: when the worker ends, however it ends). Elsewhere the pool's own shutdown is all there is."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _start(config: NlpConfig) -> None:
    global _enricher, _load_error  # noqa: PLW0603 - one model per child process, built before its first batch
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the worker, which stops us
    if config.tune_malloc:
        tune_malloc()  # the worker's glibc thresholds: spaCy's batch memory is reused, not faulted in again
    configure_logging(config.log_level, config.log_format)
    try:
        _enricher = Enricher(
            config.model,
            batch_size=config.batch_size,
            selective=config.selective,
            blas=config.blas,
            quote_min_confidence=config.quote_min_confidence,
        )
    except Exception as exc:  # an initializer that raises breaks the pool and loses the reason
        _load_error = exc


def _ready() -> int:
    """The child's pid once its model is loaded; raises (in the parent) why it could not be loaded."""
    if _load_error is not None:
        raise _load_error
    return os.getpid()


def _finish(
    values: Sequence[bytes], stories: Sequence[dict[str, Any] | None]
) -> tuple[list[NlpResult], float]:
    """Runs in the child: NLP over a batch of wire envelopes, each one's records ready to send (or its
    dead letter), in order; and the child's CPU seconds so far (for the metrics). ``stories[i]`` is what
    the ``stories`` table holds for article ``i``'s uri (its last published version), or None."""
    if _enricher is None:  # pragma: no cover - the initializer always ran first
        raise RuntimeError("the NLP process has no model")
    results: list[NlpResult | None] = [None] * len(values)
    envelopes, previous = [], []
    for i, (value, story) in enumerate(zip(values, stories, strict=True)):
        try:
            envelopes.append((i, WireEnvelope.parse(value).envelope()))
        except Exception as exc:  # a bug upstream: the worker dead-letters it with the message's place
            results[i] = Unreadable(f"{type(exc).__name__}: {exc}")
            continue
        previous.append(_snapshot(story))
    finished = finish([envelope for _, envelope in envelopes], _enricher, previous)
    for (i, envelope), done in zip(envelopes, finished, strict=True):
        if isinstance(done.outcome, DeadLetter):
            results[i] = done.outcome
        else:
            results[i] = outcome_outputs(done.outcome, envelope.source(), done.story)
    return [r for r in results if r is not None], time.process_time()


def _snapshot(state: dict[str, Any] | None) -> StorySnapshot | None:
    """The story's last version from its table value; a value this release cannot read is no version
    (the update is published without ``changes``), never a failed batch."""
    if state is None:
        return None
    try:
        return StorySnapshot.from_state(state)
    except ValueError as exc:
        log.warning("stories.unreadable", error=f"{type(exc).__name__}: {exc}")
        return None


class NlpProcess:
    """One child process that runs ``process.finish`` (spaCy, entities, quotes) on batches."""

    def __init__(self, config: NlpConfig) -> None:
        self.config = config
        self.pid: int | None = None
        self.cpu_seconds = 0.0  # the current child's CPU so far (reported with every batch)
        self.cpu_seconds_before = 0.0  # children that died or were replaced
        self.restarts = 0
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> float:
        """Start the child and wait until its model is loaded; returns the seconds that took.

        Raises what loading raised (``ModelError`` for a missing or incomplete model)."""
        started = time.perf_counter()
        try:
            self.pid = self._spawn().result()
        except BaseException:
            self.close()
            raise
        return time.perf_counter() - started

    def _spawn(self) -> Future[int]:
        # spawn, not fork: the worker has threads (Faust's consumer, the pool's own) by the time a child is
        # replaced, and forking a process with threads can copy a held lock. The child is started by the
        # calling thread (the worker's main thread, which lives as long as the worker: PDEATHSIG).
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_start, initargs=(self.config,))
        return self._pool.submit(_ready)

    async def finish(
        self, values: Sequence[bytes], stories: Sequence[dict[str, Any] | None] | None = None
    ) -> list[NlpResult]:
        """NLP over a batch of ``Envelope.to_wire`` values in the child; results in order. ``stories``:
        the last published version of each value's story (``_finish``); None: none known."""
        if self._pool is None:
            await self._restart()
        assert self._pool is not None
        try:
            outcomes, cpu = await asyncio.get_running_loop().run_in_executor(
                self._pool, _finish, list(values), list(stories or [None] * len(values))
            )
        except BrokenProcessPool as exc:
            log.error("nlp.process_died", pid=self.pid, articles=len(values), error=str(exc))
            self._forget_child()
            raise NlpProcessDiedError(f"the NLP process died during a batch of {len(values)}: {exc}") from exc
        self.cpu_seconds = cpu
        return outcomes

    async def _restart(self) -> None:
        started = time.perf_counter()
        try:
            self.pid = await asyncio.wrap_future(self._spawn())
        except BaseException:
            self.close()
            raise
        self.restarts += 1
        log.info(
            "nlp.process_restarted",
            pid=self.pid,
            seconds=round(time.perf_counter() - started, 2),
            restarts=self.restarts,
        )

    def _forget_child(self) -> None:
        self.cpu_seconds_before += self.cpu_seconds
        self.cpu_seconds = 0.0
        self.close()

    def total_cpu_seconds(self) -> float:
        """CPU seconds of every child so far (the live one read from ``/proc``, else as of its last batch)."""
        live = process_cpu_seconds(self.pid) if self.pid is not None and self._pool is not None else None
        return self.cpu_seconds_before + (live if live is not None else self.cpu_seconds)

    def close(self) -> None:
        """Stop the child (it also dies with the worker's main thread)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
