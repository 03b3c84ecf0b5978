"""A Faust table whose writes go to the changelog partition of the event they are made for.

Faust writes a table change to the changelog partition of the stream's *current* event. An agent that
takes a batch of events from several partitions (``take_events``) has one current event for the whole
batch, so a change made for any other event of the batch would land in the wrong partition, and after a
rebalance the worker that takes that event's partition would not find it. Inside ``writing_for(event)``
changes go to ``event``'s partition; outside, Faust's own rule applies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any

import faust
from faust.types import EventT

_partition: ContextVar[int | None] = ContextVar("wirepipe_table_partition", default=None)


class Table(faust.Table[Any, Any]):
    """``faust.Table`` that takes the partition of a write from ``writing_for`` when one is set."""

    def partition_for_key(self, key: Any) -> int | None:
        partition = _partition.get()
        if partition is not None:
            return partition
        found: int | None = super().partition_for_key(key)
        return found


@contextmanager
def writing_to(partition: int) -> Iterator[None]:
    """Table writes made inside go to changelog partition ``partition``."""
    token = _partition.set(partition)
    try:
        yield
    finally:
        _partition.reset(token)


def writing_for(event: EventT[Any]) -> AbstractContextManager[None]:
    """Table writes made inside go to ``event``'s partition."""
    return writing_to(event.message.partition)
