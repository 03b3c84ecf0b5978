"""The Faust app the worker runs: :class:`~pipeline.stream.acks.SafeAckConsumer`, an idempotent producer,
topic declarations that outlast a broker's death, and a timer that wakes stalled partitions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.transport.drivers import aiokafka as aiokafka_driver

from pipeline.logs import get_logger
from pipeline.stream.acks import WATCH_EVERY_S, SafeAckConsumer
from pipeline.stream.kafka_config import producer_options

log = get_logger("wirepipe.consumer")

DECLARE_RETRY_S = 60.0  # how long a topic declaration is tried again after a retriable error
DECLARE_PAUSE_S = 1.0  # between two tries


class IdempotentProducer(aiokafka_driver.Producer):
    """Faust's aiokafka producer with idempotence on (Faust turns it on only for transactions): a send
    retried after its acknowledgement was lost, as when a partition leader dies mid-request, is
    written once, and a partition's records keep their order across retries."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), **producer_options()}


class SafeAckTransport(aiokafka_driver.Transport):
    """Faust's aiokafka transport with our consumer and producer, whose topic declarations are tried
    again after a retriable error.

    A worker declares topics as it starts (Faust's leader topic, at least, whatever already exists: its
    client's metadata does not list topics it has not asked about yet), and sends the request to a node
    of the cluster's metadata. A broker that died a moment ago is listed there until its session expires,
    and a request sent to it fails with ``NodeNotReadyError``, which stopped the worker."""

    Consumer = SafeAckConsumer
    Producer = IdempotentProducer

    async def _create_topic(
        self, owner: Any, client: Any, topic: str, partitions: int, replication: int, **kwargs: Any
    ) -> None:
        deadline = time.monotonic() + DECLARE_RETRY_S
        while True:
            try:
                await super()._create_topic(owner, client, topic, partitions, replication, **kwargs)
                return
            except KafkaError as exc:
                if not exc.retriable or time.monotonic() > deadline or owner.should_stop:
                    raise
                log.warning("topic.declare_retry", topic=topic, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(DECLARE_PAUSE_S)


class WirepipeApp(faust.App):
    """A Faust app whose consumer is :class:`SafeAckConsumer` and whose producer is idempotent, and
    which wakes stalled partitions."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timer(interval=WATCH_EVERY_S)(self._watch_progress)

    def _new_transport(self) -> Any:
        return SafeAckTransport(self.conf.broker_consumer, self)

    async def _watch_progress(self) -> None:
        try:
            await self.consumer.watch_progress()  # type: ignore[attr-defined]
        except Exception as exc:  # e.g. a rebalance under way; the next round looks again
            log.warning("consumer.watch_failed", error=f"{type(exc).__name__}: {exc}")
