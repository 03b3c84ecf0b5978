"""Batches of what is ready: an agent waits for one event, then takes those already queued behind it.

Faust's ``take_events(n, within)`` waits until ``n`` events came or ``within`` passed, so at a trickle every
batch waits the full ``within``, and an idle agent wakes every ``within`` to find nothing (at 20 ms, two
idle agents cost a worker 1.6 % of a core). Here a batch waits only for its first event; under load, what
arrived while the previous batch was being sent is the next batch, so batches grow with the load by
themselves. No timeout ever cancels a read from the stream (a cancelled read can drop a message).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from faust.types import EventT, StreamT


async def ready_batches(stream: StreamT[Any], most: int) -> AsyncIterator[list[EventT[Any]]]:
    """The stream's events, none acked (settle them: ``pipeline.stream.acks``), in batches of up to
    ``most``: the first event to arrive and those already waiting in the stream's queue behind it."""
    events: AsyncIterator[EventT[Any]] = stream.noack().events()  # type: ignore[attr-defined]
    queue: Any = stream.channel.queue  # type: ignore[attr-defined]  # the queue the stream reads from
    async for first in events:
        batch = [first]
        while len(batch) < most and not queue.empty():
            batch.append(await anext(events))
        yield batch
