"""The only structlog configuration: JSON lines when not on a terminal, readable console output on one."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import structlog


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog and the stdlib root logger (Faust, aiokafka and kafka-python log there)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=True)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                structlog.processors.format_exc_info,
            ],
        )
    )
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The Kafka clients are chatty at INFO; their warnings still reach us.
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class RepeatFilter(logging.Filter):
    """Lets one of a run of identical stdlib log lines through per ``every_s`` seconds.

    While the broker is away, aiokafka logs the same failed connection and metadata lines thousands of
    times a second. The first line passes; repeats within the window are counted, and the first one
    after it passes with that count.
    """

    def __init__(self, every_s: float = 10.0, clock: Any = time.monotonic) -> None:
        super().__init__()
        self.every_s = every_s
        self.clock = clock
        self.seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # line -> (passed at, held back)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        key = (record.name, record.levelno, text)
        now = self.clock()
        passed_at, held = self.seen.get(key, (None, 0))
        if passed_at is not None and now - passed_at < self.every_s:
            self.seen[key] = (passed_at, held + 1)
            return False
        if len(self.seen) > 10_000:
            self.seen.clear()
        self.seen[key] = (now, 0)
        if held:
            record.msg, record.args = f"{text} ({held} more like it in the last {now - passed_at:.0f} s)", ()
        return True


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    """A printer to whatever ``sys.stderr`` is when a line is logged, not when logging was configured: a
    stream swapped since (pytest's capture, a redirect) and closed is never written to."""
    return structlog.PrintLogger(file=sys.stderr)


def get_logger(name: str = "wirepipe") -> structlog.stdlib.BoundLogger:
    """A bound logger; events are names with fields, never f-strings."""
    return structlog.get_logger(name)  # type: ignore[no-any-return]
