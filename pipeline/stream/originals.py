"""Reading an input message back by its place, for a dead letter raised after the ingest step.

Envelopes between the worker's steps no longer carry the original bytes (base64 through every hop, for
the rare article that fails after cleaning). A dead letter needs them, and the raw topic still holds them
at the partition and offset the envelope names: this reads them from there.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pipeline.logs import get_logger
from pipeline.settings import Settings
from pipeline.stream.kafka_config import kafka_python_options

log = get_logger("wirepipe.worker")


class OriginalNotFoundError(LookupError):
    """The message is no longer there (retention) or could not be read in time."""


class Originals:
    """Reads single messages back from a topic (kafka-python, in a thread; one short-lived consumer per
    read: dead letters after ingest are rare)."""

    def __init__(self, settings: Settings, timeout_s: float = 15.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s

    async def read(self, topic: str, partition: int, offset: int) -> bytes | None:
        """The value of the message at ``offset``; raises ``OriginalNotFoundError``."""
        return await asyncio.to_thread(self._read, topic, partition, offset)

    def _read(self, topic: str, partition: int, offset: int) -> bytes | None:
        from kafka import KafkaConsumer, TopicPartition  # noqa: PLC0415 - only on this rare path

        consumer: Any = KafkaConsumer(
            **kafka_python_options(self.settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",  # an offset below the log start lands on the first one left
            client_id="wirepipe-originals",
            max_partition_fetch_bytes=self.settings.topic_max_message_bytes,
            fetch_max_bytes=self.settings.topic_max_message_bytes,
        )
        try:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, offset)
            deadline = time.monotonic() + self.timeout_s
            while time.monotonic() < deadline:
                for message in consumer.poll(timeout_ms=500).get(tp, []):
                    if message.offset == offset:
                        value: bytes | None = message.value
                        return value
                    if message.offset > offset:  # deleted (retention or compaction): the log moved on
                        raise OriginalNotFoundError(f"{topic}/{partition} has no offset {offset} any more")
            raise OriginalNotFoundError(f"{topic}/{partition}@{offset} not read in {self.timeout_s:.0f} s")
        finally:
            consumer.close()
