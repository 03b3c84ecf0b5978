"""Log plumbing: a flood of identical third-party lines is cut to one per window, with the count kept."""

from __future__ import annotations

import logging

from pipeline.logs import RepeatFilter


def record(text: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.conn", level, __file__, 1, "Unable connect to node %s", (text,), None)


def test_identical_lines_pass_once_per_window_and_the_next_one_counts_what_was_held_back() -> None:
    now = [0.0]
    flood = RepeatFilter(every_s=10.0, clock=lambda: now[0])
    assert flood.filter(record("1"))
    for step in range(1, 1_000):
        now[0] = step / 200  # 1,000 lines in 5 s
        assert not flood.filter(record("1"))
    assert flood.filter(record("2"))  # another line is not held back by the first
    now[0] = 10.5
    again = record("1")
    assert flood.filter(again)
    assert again.getMessage() == "Unable connect to node 1 (999 more like it in the last 10 s)"
