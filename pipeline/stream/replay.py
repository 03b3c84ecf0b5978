"""Dead-letter replay: re-send chosen dead letters' original messages to the raw topic once their cause
is fixed (a raised limit, a deployed bug fix). ``wirepipe replay`` is the command.

Selection is pure (``Selection.matches``); ``replay`` reads a snapshot of the dead-letter topic (from the
beginning to the end offsets at the start, without a consumer group, so nothing is committed and a replay
can be repeated) and produces each chosen original value with its original key. Every replayed record
carries a ``wirepipe-replayed-from`` header (``topic:partition:offset`` of the dead letter).
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from pipeline.logs import get_logger
from pipeline.settings import Settings
from pipeline.stream.kafka_config import check_credentials, kafka_python_options, producer_options
from schemas.records import DeadLetter

REPLAY_HEADER = "wirepipe-replayed-from"

log = get_logger("wirepipe.replay")


@dataclass(frozen=True)
class Selection:
    """Which dead letters to replay: by error code, by partition and offset range of the dead-letter
    topic (both ends inclusive). Empty codes and open ranges select everything."""

    codes: frozenset[str] = frozenset()
    partition: int | None = None
    from_offset: int | None = None
    to_offset: int | None = None

    def matches(self, letter: DeadLetter, partition: int, offset: int) -> bool:
        """True when the dead letter at (partition, offset) is one to replay."""
        if self.codes and letter.error_code not in self.codes:
            return False
        if self.partition is not None and partition != self.partition:
            return False
        if self.from_offset is not None and offset < self.from_offset:
            return False
        return self.to_offset is None or offset <= self.to_offset


@dataclass
class ReplayReport:
    """What a replay did: replayed counts by code, and what was skipped and why."""

    replayed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    target: str = ""
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.replayed.values())


def _dead_letters(
    settings: Settings, topic: str, timeout_s: float
) -> Iterator[tuple[int, int, bytes | None]]:
    """(partition, offset, value) of every record in ``topic`` up to its end offsets at the start."""
    from kafka import KafkaConsumer, TopicPartition  # noqa: PLC0415 - kafka-python imports are slow

    consumer = KafkaConsumer(
        **kafka_python_options(settings),
        group_id=None,
        enable_auto_commit=False,
        client_id="wirepipe-replay",
        fetch_max_bytes=settings.topic_max_message_bytes,
        max_partition_fetch_bytes=settings.topic_max_message_bytes,
    )
    try:
        ids = consumer.partitions_for_topic(topic)
        if not ids:
            raise RuntimeError(f"dead-letter topic {topic!r} does not exist or has no partitions")
        partitions = [TopicPartition(topic, p) for p in sorted(ids)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends: dict[Any, int] = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic!r} took longer than {timeout_s:.0f} s")
            for tp, batch in consumer.poll(timeout_ms=500).items():
                for message in batch:
                    if message.offset < ends[tp]:
                        yield message.partition, message.offset, message.value
    finally:
        consumer.close()


def replay(
    settings: Settings,
    selection: Selection,
    *,
    target_topic: str | None = None,
    dry_run: bool = False,
    timeout_s: float = 300.0,
) -> ReplayReport:
    """Re-send the selected dead letters' original messages (value and key) to the raw topic."""
    from kafka import KafkaProducer  # noqa: PLC0415

    check_credentials(settings)
    source = settings.topic_deadletter
    report = ReplayReport(target=target_topic or settings.topic_raw, dry_run=dry_run)
    producer = (
        None
        if dry_run
        else KafkaProducer(
            **kafka_python_options(settings),
            **producer_options(),
            linger_ms=5,
            max_request_size=settings.topic_max_message_bytes,
            client_id="wirepipe-replay",
        )
    )
    futures = []
    try:
        for partition, offset, value in _dead_letters(settings, source, timeout_s):
            try:
                letter = DeadLetter.model_validate_json(value or b"")
            except ValidationError:
                report.skipped["not_a_dead_letter"] += 1
                continue
            if not selection.matches(letter, partition, offset):
                report.skipped["not_selected"] += 1
                continue
            report.replayed[letter.error_code] += 1
            log.info(
                "replay.message",
                error_code=letter.error_code,
                article_id=letter.article_id,
                deadletter_partition=partition,
                deadletter_offset=offset,
                original_offset=letter.offset,
                dry_run=dry_run,
            )
            if producer is None:
                continue
            key = base64.b64decode(letter.key_b64) if letter.key_b64 is not None else None
            header = (REPLAY_HEADER, f"{source}:{partition}:{offset}".encode())
            futures.append(
                producer.send(
                    report.target, key=key, value=base64.b64decode(letter.original_b64), headers=[header]
                )
            )
        if producer is not None:
            producer.flush(timeout=timeout_s)
            for future in futures:
                future.get(timeout=timeout_s)  # a refused message fails the replay loudly
    finally:
        if producer is not None:
            producer.close(timeout=10)
    log.info(
        "replay.done",
        source=source,
        target=report.target,
        replayed=report.total,
        dry_run=dry_run,
        by_code=dict(report.replayed),
        skipped=dict(report.skipped),
    )
    return report
