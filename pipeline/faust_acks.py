"""A Kafka consumer for Faust whose committed offsets only ever pass messages our agents finished.

Faust commits an offset once every message below it is *acked*, and it acks in places where nothing
was processed: ``Stream.take_events`` acks its whole batch in a ``finally`` even when the agent body
raised or was cancelled, the pure-Python stream iterator acks messages it skips during a rebalance,
and ``Consumer._new_offset`` lets the commit step over one unacked message at the head of a
partition (it compares the committed offset, which is the *next* offset to read, as if it were the
last one read). Any of these turns a failure into a silent loss. We lost one article in 2,000 after
a worker was killed: it reached the internal nlp topic, its offset was committed, no outcome ever
came out.

So the agents *settle* a message (``settle``) once its outputs are acknowledged by the broker, and
this consumer counts only settled messages. Any other ack is refused and remembered; the commit of
that partition stops below the refused offset, and the partition is read again from there. A refused
ack costs a re-delivery, which the keyed, idempotent outcomes absorb. Never a loss.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from typing import Any
from weakref import WeakSet

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, EventT, Message, StreamT

from pipeline.logs import get_logger

log = get_logger("wirepipe.consumer")


class SafeAckConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer that acks only messages settled by an agent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settled: WeakSet[Message] = WeakSet()
        self.refused: defaultdict[TP, set[int]] = defaultdict(set)
        self._seeks: set[asyncio.Future[None]] = set()

    def ack(self, message: Message) -> bool:
        tp, offset = message.tp, message.offset
        if message in self.settled:
            self.refused[tp].discard(offset)
            return bool(super().ack(message))
        self._unacked_messages.discard(message)  # nothing to wait for: it is read again
        if offset not in self.refused[tp]:
            self.refused[tp].add(offset)
            log.warning("consumer.ack_refused", topic=tp.topic, partition=tp.partition, offset=offset)
            if not self.app.rebalancing:  # a rebalance seeks every partition back to its commit anyway
                seek = asyncio.ensure_future(self._read_again(tp))
                self._seeks.add(seek)
                seek.add_done_callback(self._seeks.discard)
        return False

    async def _read_again(self, tp: TP) -> None:
        """Seek a partition back to its lowest refused offset, so the message is processed again."""
        refused = self.refused.get(tp)
        if not refused:
            return
        try:
            await self.seek(tp, min(refused))
        except Exception as exc:  # the next rebalance or restart reads it again from the commit
            log.warning("consumer.seek_failed", topic=tp.topic, partition=tp.partition, error=repr(exc))

    def _new_offset(self, tp: TP) -> int | None:
        refused = self.refused.get(tp)
        if refused:
            committed = self._committed_offset[tp]
            refused.difference_update({o for o in refused if committed is not None and o < committed})
            acked = self._acked[tp]
            if refused and acked and min(refused) < min(acked):
                return None  # the head of the partition was not processed: commit nothing past it
        offset: int | None = super()._new_offset(tp)
        return offset

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:  # re-assigned partitions are read again from their committed offsets
            self.refused.pop(tp, None)
        await super().on_partitions_revoked(revoked)


class SafeAckTransport(aiokafka_driver.Transport):
    Consumer = SafeAckConsumer


class WirepipeApp(faust.App):
    """A Faust app whose consumer is :class:`SafeAckConsumer`."""

    def _new_transport(self) -> Any:
        return SafeAckTransport(self.conf.broker_consumer, self)


def events_to_settle(stream: StreamT[Any]) -> AsyncIterator[EventT[Any]]:
    """The stream's events, none acked until ``settle`` is called for it."""
    events: AsyncIterator[EventT[Any]] = stream.noack().events()  # type: ignore[attr-defined]
    return events


async def settle(stream: StreamT[Any], events: Iterable[EventT[Any]]) -> None:
    """Mark events as finished (their outputs are acknowledged) and ack them."""
    consumer = stream.app.consumer
    settled: WeakSet[Message] = consumer.settled  # type: ignore[attr-defined]
    for event in events:
        settled.add(event.message)
        await stream.ack(event)
