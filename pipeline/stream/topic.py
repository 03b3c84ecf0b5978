"""A Faust topic whose sends go straight to the running producer.

Faust's ``Topic.publish_message`` awaits ``app.maybe_start_producer()`` for every message it sends. That
coroutine is stampede-guarded (``mode.utils.futures.StampedeWrapper``) and yields to the event loop up to
three times (``asyncio.sleep(0)``) even when the producer has long been running. A worker sends about
24 messages per article (outputs, the internal hops, table changelogs), so those extra turns of the
event loop were the largest single Faust cost on it: about 0.5 CPU ms per article (bench/README.md).
"""

from __future__ import annotations

import faust
from faust.types import ProducerT


class Topic(faust.Topic):
    """``faust.Topic`` that skips the producer start-up guard once the producer has started.

    Until then, and under exactly-once transactions (where the producer is the transaction manager),
    Faust's own path is taken.
    """

    async def _get_producer(self) -> ProducerT:
        producer = self.app.producer
        if producer.started and not self.app.in_transaction:
            return producer
        return await super()._get_producer()
