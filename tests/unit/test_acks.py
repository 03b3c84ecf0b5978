"""The worker's consumer counts only messages an agent settled, so a commit never passes unprocessed work;
its producer is idempotent and its topic declarations outlast a broker's death."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, TopicAuthorizationFailedError
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from structlog.testing import capture_logs

from pipeline.stream import transport
from pipeline.stream.acks import SafeAckConsumer, skip_finished
from pipeline.stream.transport import WirepipeApp

TOPIC = TP("raw", 0)


@pytest.fixture
def consumer() -> SafeAckConsumer:
    app = WirepipeApp("test-acks", broker="kafka://127.0.0.1:1")  # never started: no connection is made
    app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]
    app.rebalancing = True  # no seek-back task: there is no running consumer to seek
    consumer = app.consumer
    assert isinstance(consumer, SafeAckConsumer)
    consumer._committed_offset[TOPIC] = 10  # the next offset to read is 10
    return consumer


def message(offset: int) -> ConsumerMessage:
    return ConsumerMessage("raw", 0, offset, 0.0, None, [], b"key", b"value", None, tp=TOPIC)


def test_settled_messages_are_acked_and_committable(consumer: SafeAckConsumer) -> None:
    for offset in range(10, 13):
        m = message(offset)
        consumer.settled.add(m)
        assert consumer.ack(m)
    assert consumer._new_offset(TOPIC) == 13


def test_an_unsettled_head_message_holds_the_commit_until_it_is_settled(consumer: SafeAckConsumer) -> None:
    head = message(10)
    assert not consumer.ack(head)  # e.g. acked by a batch whose agent body raised
    for offset in range(11, 15):
        m = message(offset)
        consumer.settled.add(m)
        consumer.ack(m)
    assert consumer._new_offset(TOPIC) is None  # Faust alone would commit 15, passing over offset 10
    again = message(10)  # read again after the seek-back, and this time finished
    consumer.settled.add(again)
    assert consumer.ack(again)
    assert consumer._new_offset(TOPIC) == 15


def test_a_head_message_that_never_reached_the_agent_holds_the_commit(consumer: SafeAckConsumer) -> None:
    for offset in range(11, 15):  # offset 10 was lost on its way to the agent: nobody acked it
        m = message(offset)
        consumer.settled.add(m)
        consumer.ack(m)
    assert consumer._new_offset(TOPIC) is None
    assert consumer.refused[TOPIC] == {10}  # and the partition is read again from it


def test_an_unsettled_message_in_the_middle_stops_the_commit_below_it(consumer: SafeAckConsumer) -> None:
    for offset in (10, 11, 13):
        m = message(offset)
        consumer.settled.add(m)
        consumer.ack(m)
    consumer.ack(message(12))
    assert consumer._new_offset(TOPIC) == 12
    consumer._committed_offset[TOPIC] = 12
    assert consumer._new_offset(TOPIC) is None


def test_a_seek_back_is_not_undone_by_messages_of_an_earlier_fetch(consumer: SafeAckConsumer) -> None:
    offsets = consumer._read_offset
    offsets[TOPIC] = 20
    offsets.rewind(TOPIC, 8)  # type: ignore[attr-defined]
    offsets[TOPIC] = 21  # Faust's fetch loop still handing on what it fetched before the seek
    assert offsets[TOPIC] == 8
    offsets[TOPIC] = 8  # the re-read reached the refused message: normal bookkeeping resumes
    offsets[TOPIC] = 9
    assert offsets[TOPIC] == 9


def test_a_rebalance_voids_a_rewind(consumer: SafeAckConsumer) -> None:
    offsets = consumer._read_offset
    offsets.rewind(TOPIC, 8)  # type: ignore[attr-defined]
    offsets.update({TOPIC: 30})  # Faust's perform_seek after a rebalance: the commit moved on meanwhile
    offsets[TOPIC] = 31
    assert offsets[TOPIC] == 31  # read offsets follow the fetch again, not the stale floor
    offsets.rewind(TOPIC, 8)  # type: ignore[attr-defined]
    offsets.pop(TOPIC)  # revoked
    offsets[TOPIC] = 40
    assert offsets[TOPIC] == 40


def test_an_offset_faust_records_as_a_gap_is_not_committed_over(consumer: SafeAckConsumer) -> None:
    for offset in (10, 11, 13):
        m = message(offset)
        consumer.settled.add(m)
        consumer.ack(m)
    asyncio.run(consumer._add_gap(TOPIC, 12, 12))  # what Faust records when message 12 never reached it
    assert consumer._new_offset(TOPIC) == 12  # stock Faust would commit 14


@pytest.fixture
def seeks(consumer: SafeAckConsumer, monkeypatch: pytest.MonkeyPatch) -> list[tuple[TP, int]]:
    """The consumer owns TOPIC, 15 messages behind its log end, outside any rebalance; records seeks."""
    consumer.app.rebalancing = False
    done: list[tuple[TP, int]] = []

    async def highwaters(*tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 25)

    async def seek(tp: TP, offset: int) -> None:
        done.append((tp, offset))

    monkeypatch.setattr(consumer, "assignment", lambda: {TOPIC})
    monkeypatch.setattr(consumer, "highwaters", highwaters)
    monkeypatch.setattr(consumer, "_seek", seek)
    return done


def test_a_partition_that_stopped_moving_is_read_again_from_its_commit(
    consumer: SafeAckConsumer, seeks: list[tuple[TP, int]]
) -> None:
    assert asyncio.run(consumer.watch_progress(now=0.0)) == []
    assert asyncio.run(consumer.watch_progress(now=30.0)) == []  # not long enough to call it stalled
    assert asyncio.run(consumer.watch_progress(now=61.0)) == [TOPIC]
    assert seeks == [(TOPIC, 10)]
    assert consumer._read_offset[TOPIC] == 10


def test_a_partition_with_work_in_flight_is_not_read_again_only_logged_as_slow(
    consumer: SafeAckConsumer, seeks: list[tuple[TP, int]]
) -> None:
    working = message(10)
    consumer.track_message(working)  # an agent is working on the head (e.g. a long spaCy batch)
    with capture_logs() as logged:
        for now in (0.0, 61.0, 200.0, 301.0):
            assert asyncio.run(consumer.watch_progress(now=now)) == []
    assert seeks == []
    assert [e["event"] for e in logged] == ["consumer.partition_slow"]
    assert logged[0]["in_flight"] == 1 and logged[0]["head"] == "in flight"


def test_copies_read_again_below_the_commit_do_not_hide_a_lost_head_from_the_stall_watch(
    consumer: SafeAckConsumer, seeks: list[tuple[TP, int]]
) -> None:
    """The CI stall: after a seek back the commit overtook the copies read again (8, 9), their late
    acks did not count, and the head (10) was lost on its way to the agent. The agent's last batch
    still holds the copies; they must not count as in flight, or the partition is only "slow"."""
    last_batch = [message(8), message(9)]
    for m in last_batch:
        consumer.track_message(m)  # what Faust's stream does as the agent takes them
        consumer.settled.add(m)
        consumer.ack(m)
    assert all(m.acked for m in last_batch)
    with capture_logs() as logged:
        assert asyncio.run(consumer.watch_progress(now=0.0)) == []
        assert asyncio.run(consumer.watch_progress(now=61.0)) == [TOPIC]
    assert seeks == [(TOPIC, 10)]
    stalls = [(e["event"], e["head"], e["in_flight"]) for e in logged]
    assert stalls == [("consumer.partition_stalled", "nowhere", 0)]


def test_work_in_flight_behind_a_lost_head_does_not_keep_the_partition_from_being_read_again(
    consumer: SafeAckConsumer, seeks: list[tuple[TP, int]]
) -> None:
    working = message(12)  # being worked on, but the commit waits for 10, which nobody holds
    consumer.track_message(working)
    assert asyncio.run(consumer.watch_progress(now=0.0)) == []
    assert asyncio.run(consumer.watch_progress(now=61.0)) == [TOPIC]
    assert seeks == [(TOPIC, 10)]


def test_a_settled_head_waiting_for_its_commit_is_not_read_again(
    consumer: SafeAckConsumer, seeks: list[tuple[TP, int]]
) -> None:
    head = message(10)
    consumer.settled.add(head)
    consumer.ack(head)  # settled; the commit that would take it fails (e.g. the group coordinator is down)
    with capture_logs() as logged:
        for now in (0.0, 61.0, 301.0):
            assert asyncio.run(consumer.watch_progress(now=now)) == []
    assert seeks == []
    slow = [(e["event"], e["head"]) for e in logged]
    assert slow == [("consumer.partition_slow", "settled, not committed")]


def test_a_partition_never_committed_starts_from_the_log_start_so_a_lost_first_message_holds_the_commit(
    consumer: SafeAckConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = TP("raw", 1)
    seeks: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    async def seek_to_committed() -> dict[TP, int | None]:
        return {TOPIC: 10, fresh: None}  # the group never committed partition 1

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 0)

    monkeypatch.setattr(consumer, "assignment", lambda: {TOPIC, fresh})
    monkeypatch.setattr(consumer, "seek_to_committed", seek_to_committed)
    monkeypatch.setattr(consumer, "earliest_offsets", earliest_offsets)
    monkeypatch.setattr(consumer, "_seek", seek)
    asyncio.run(consumer.perform_seek())
    assert consumer._committed_offset[fresh] == 0 and consumer._committed_offset[TOPIC] == 10
    assert seeks == [(fresh, 0)]  # records fetched and dropped during the rebalance are fetched again
    for offset in (1, 2, 3):  # offset 0 never reached an agent
        m = ConsumerMessage("raw", 1, offset, 0.0, None, [], b"key", b"value", None, tp=fresh)
        consumer.settled.add(m)
        consumer.ack(m)
    assert consumer._new_offset(fresh) is None  # stock Faust would make 4 the group's first commit
    assert consumer.refused[fresh] == {0}


def test_a_never_committed_partition_kept_through_a_rebalance_resumes_past_what_it_handed_on(
    consumer: SafeAckConsumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records 0-6 went to agents before the rebalance; the retained partition is sought to 7, not to
    the log start (they are not handed on twice), and a partition this worker never read to the start."""
    kept, new = TP("raw", 1), TP("raw", 2)
    seeks: list[tuple[TP, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    async def seek_to_committed() -> dict[TP, int | None]:
        return {kept: None, new: None}

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 0)

    consumer._read_offset[kept] = 6
    asyncio.run(consumer.on_partitions_revoked({kept}))
    monkeypatch.setattr(consumer, "assignment", lambda: {kept, new})
    monkeypatch.setattr(consumer, "seek_to_committed", seek_to_committed)
    monkeypatch.setattr(consumer, "earliest_offsets", earliest_offsets)
    monkeypatch.setattr(consumer, "_seek", seek)
    asyncio.run(consumer.perform_seek())
    assert sorted(seeks) == [(kept, 7), (new, 0)]
    assert consumer._read_offset[kept] == 6 and consumer._committed_offset[kept] == 0


@dataclass
class _Event:
    message: ConsumerMessage


class _Stream:
    """The two things ``skip_finished`` uses of a Faust stream: its app and ``ack``."""

    def __init__(self, consumer: SafeAckConsumer) -> None:
        self.app = consumer.app

    async def ack(self, event: _Event) -> bool:
        return bool(self.app.consumer.ack(event.message))


def test_messages_read_again_after_a_seek_back_are_settled_without_being_worked_on_twice(
    consumer: SafeAckConsumer,
) -> None:
    for offset in (11, 12):  # finished; offset 10 was lost on its way to the agent
        m = message(offset)
        consumer.settled.add(m)
        consumer.ack(m)
    again = [_Event(message(offset)) for offset in (10, 11, 12, 13)]  # the partition read again from 10
    fresh = asyncio.run(skip_finished(_Stream(consumer), again))  # type: ignore[arg-type]
    assert [e.message.offset for e in fresh] == [10, 13]
    for event in fresh:  # the agent works on these and settles them
        consumer.settled.add(event.message)
        consumer.ack(event.message)
    assert consumer._new_offset(TOPIC) == 14
    consumer._committed_offset[TOPIC] = 14
    consumer._new_offset(TOPIC)
    assert not consumer.finished[TOPIC]  # forgotten once committed


def test_the_workers_producer_is_idempotent_and_waits_for_every_in_sync_replica() -> None:
    app = WirepipeApp("test-producer", broker="kafka://127.0.0.1:1", producer_acks=-1)

    async def build() -> Any:
        return app.producer._new_producer()  # type: ignore[attr-defined]  # not started: no connection

    producer = asyncio.run(build())
    assert producer._txn_manager is not None  # aiokafka keeps producer ids only when idempotent
    assert producer._sender._acks == -1  # all in-sync replicas


@pytest.mark.parametrize(
    ("errors", "raised", "tries"),
    [
        ([NodeNotReadyError("node 3"), KafkaConnectionError("refused")], None, 3),  # a just-dead node
        ([TopicAuthorizationFailedError("denied")] * 2, TopicAuthorizationFailedError, 1),  # not retriable
    ],
)
def test_a_topic_declaration_that_met_a_dead_broker_is_tried_again(
    monkeypatch: pytest.MonkeyPatch, errors: list[Exception], raised: type[Exception] | None, tries: int
) -> None:
    planned, topics = list(errors), []

    async def declare(*args: Any, **kwargs: Any) -> None:
        topics.append(args[3])
        if planned:
            raise planned.pop(0)

    monkeypatch.setattr(aiokafka_driver.Transport, "_create_topic", declare)
    monkeypatch.setattr(transport, "DECLARE_PAUSE_S", 0.0)
    app = WirepipeApp("test-declare", broker="kafka://127.0.0.1:1")  # never started: no connection is made
    owner = SimpleNamespace(should_stop=False)
    declared = app.transport._create_topic(owner, None, "leader", 1, 3)  # type: ignore[attr-defined]
    if raised is None:
        asyncio.run(declared)
    else:
        with pytest.raises(raised):
            asyncio.run(declared)
    assert topics == ["leader"] * tries
