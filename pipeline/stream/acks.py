"""A Kafka consumer for Faust whose committed offsets only ever pass messages our agents finished.

Faust commits an offset once every message below it is *acked*, and it acks in places where nothing
was processed: ``Stream.take_events`` acks its whole batch in a ``finally`` even when the agent body
raised or was cancelled, the pure-Python stream iterator acks messages it skips during a rebalance,
and ``Consumer._new_offset`` lets the commit step over one unacked message at the head of a
partition (it compares the committed offset, which is the *next* offset to read, as if it were the
last one read). It also counts offsets it never handed to an agent as acked "gaps". Any of these
turns a failure into a silent loss. We lost one article in 2,000 after a worker was killed (it reached
the internal nlp topic, its offset was committed, no outcome ever came out), and the tail of the nlp
partitions when a worker left the group.

So the agents *settle* a message (``settle``) once its outputs are acknowledged by the broker, and
this consumer counts only settled messages. Any other ack is refused and remembered; the commit of
that partition stops below the refused offset, and the partition is read again from there (a seek,
guarded so that Faust's fetch loop cannot undo it). No gap counts. A partition that stops moving with
nothing of it in flight is read again from its commit (``watch_progress``). A refused ack costs a
re-delivery, which the keyed, idempotent outcomes absorb. Never a loss.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any
from weakref import WeakSet

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, AppT, EventT, Message, StreamT

from pipeline.logs import get_logger

log = get_logger("wirepipe.consumer")


# A message read again can sit behind a full stream buffer (thousands of articles) before an agent
# settles it, so re-reads are spaced out and given up on only after half an hour. A position no message
# occupies (a transaction marker, if raw producers use transactions) costs that half hour once.
READ_AGAIN_S = 60.0  # the least time between two reads of a partition from the same message
MAX_READ_AGAIN = 30  # reads from a message that never comes back, before passing over it
STALL_S = 60.0  # a partition behind its log end whose head no agent holds, unmoved this long
WATCH_EVERY_S = 10.0  # how often partitions are checked for that
SEEK_TIMEOUT_S = 30.0  # a seek back that has not happened by then failed (the broker did not answer)
SLOW_S = 300.0  # the same with its head buffered, in flight or settled: logged as slow, nothing else


class _ReadOffsets(defaultdict[TP, int | None]):
    """Faust's last-read offset per partition, which a seek back can hold down.

    Faust's fetch loop records each message it hands on as read, and drops fetched messages below
    that mark. A seek made while it is still handing on an earlier fetch would be undone by those
    later messages; so after ``rewind(tp, offset)`` marks above ``offset`` are ignored until the
    message at ``offset`` itself comes round again.
    """

    def __init__(self) -> None:
        super().__init__(lambda: None)
        self.rewinding: dict[TP, int] = {}

    def rewind(self, tp: TP, offset: int) -> None:
        self.rewinding[tp] = offset
        super().__setitem__(tp, offset)

    def __setitem__(self, tp: TP, offset: int | None) -> None:
        floor = self.rewinding.get(tp)
        if floor is not None and offset is not None and offset > floor:
            return
        self.rewinding.pop(tp, None)
        super().__setitem__(tp, offset)

    # Faust sets read offsets in bulk after a rebalance (``perform_seek``) and drops them for revoked
    # partitions: either way the partition starts over from its commit, and a rewind is void.
    def update(self, *args: Any, **kwargs: Any) -> None:
        other = dict(*args, **kwargs)
        for tp in other:
            self.rewinding.pop(tp, None)
        super().update(other)

    def pop(self, tp: TP, *default: Any) -> Any:
        self.rewinding.pop(tp, None)
        return super().pop(tp, *default)


class SafeAckConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer that acks only messages settled by an agent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = _ReadOffsets()
        self.settled: WeakSet[Message] = WeakSet()
        self.refused: defaultdict[TP, set[int]] = defaultdict(set)
        self._seeks: dict[TP, asyncio.Future[None]] = {}
        self._tries: dict[tuple[TP, int], int] = {}
        self._last_seek: dict[TP, float] = {}
        self._progress: dict[TP, tuple[tuple[int | None, int | None], float]] = {}
        # Offsets settled above the commit since the partition was assigned: after a seek back they
        # come round again, and are settled without being worked on twice (``skip_finished``).
        self.finished: defaultdict[TP, set[int]] = defaultdict(set)
        # The last offset handed to an agent per partition before the rebalance under way (Faust drops
        # read offsets on revocation): where a retained, never-committed partition resumes.
        self._read_before: dict[TP, int] = {}

    def ack(self, message: Message) -> bool:
        tp, offset = message.tp, message.offset
        if message in self.settled:
            self.refused[tp].discard(offset)
            self._tries.pop((tp, offset), None)
            self.finished[tp].add(offset)
            acked = bool(super().ack(message))
            # Faust leaves a message it does not count (below the commit, or an offset already acked:
            # a copy read again after a seek back) among the unacked ones, where the agent's last
            # batch keeps it alive: it would look in flight to ``watch_progress`` for as long.
            self._unacked_messages.discard(message)
            return acked
        self._unacked_messages.discard(message)  # nothing to wait for: it is read again
        self._refuse(tp, offset, "ack of an unsettled message")
        return False

    def _refuse(self, tp: TP, offset: int, reason: str) -> None:
        """Hold the partition's commit below ``offset`` and read the partition again from there."""
        if offset not in self.refused[tp]:
            self.refused[tp].add(offset)
            log.warning(
                "consumer.ack_refused", topic=tp.topic, partition=tp.partition, offset=offset, reason=reason
            )
        # A rebalance seeks every partition back to its commit anyway. Otherwise one seek at a time,
        # and a new one only when the last had time to bring the message back to an agent.
        now = time.monotonic()
        if self.app.rebalancing or tp in self._seeks or now - self._last_seek.get(tp, -1e9) < READ_AGAIN_S:
            return
        self._last_seek[tp] = now
        seek = asyncio.ensure_future(self._read_again(tp))
        self._seeks[tp] = seek
        seek.add_done_callback(lambda _: self._seeks.pop(tp, None))

    async def _read_again(self, tp: TP) -> None:
        """Seek a partition back to its lowest refused offset, so the message is processed again."""
        refused = self.refused.get(tp)
        if not refused:
            return
        try:
            offset = min(refused)
            # A pending seek keeps ``watch_progress`` off the partition, so it must end: a broker that
            # does not answer (a leader election) fails it, and the next refusal or stall tries again.
            async with asyncio.timeout(SEEK_TIMEOUT_S):
                earliest = (await self.earliest_offsets(tp)).get(tp)
            gone = earliest is not None and offset < earliest  # deleted by retention
            tries = self._tries[(tp, offset)] = self._tries.get((tp, offset), 0) + 1
            if gone or tries > MAX_READ_AGAIN:
                self._pass_over(tp, offset, earliest if gone else None)
                return
            await self._seek(tp, offset)
            self._read_offset.rewind(tp, offset)  # type: ignore[attr-defined]
            log.info(
                "consumer.read_again", topic=tp.topic, partition=tp.partition, offset=offset, tries=tries
            )
        except Exception as exc:  # the next rebalance or restart reads it again from the commit
            log.warning("consumer.seek_failed", topic=tp.topic, partition=tp.partition, error=repr(exc))

    def _pass_over(self, tp: TP, offset: int, earliest: int | None) -> None:
        """Stop waiting for a message that does not come back: deleted by retention (the log now starts
        at ``earliest``), or a position no message occupies (a transaction marker) after several reads."""
        resume = earliest if earliest is not None else offset + 1
        self.refused[tp] = {o for o in self.refused[tp] if o >= resume}
        self._tries.pop((tp, offset), None)
        self._committed_offset[tp] = resume
        log.error(
            "consumer.offset_passed_over",
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
            resume_at=resume,
            reason="below the log start"
            if earliest is not None
            else f"not read back in {MAX_READ_AGAIN} tries",
        )

    def _new_offset(self, tp: TP) -> int | None:
        committed = self._committed_offset[tp]
        acked = self._acked[tp]
        refused = self.refused[tp]
        if committed is not None:
            refused.difference_update({o for o in refused if o < committed})
            self.finished[tp].difference_update({o for o in self.finished[tp] if o < committed})
            # Agents settle a partition's messages in order, so a settled offset above the commit
            # with the committed one unsettled means that message was refused, or lost on its way
            # to the agent (Faust can drop a fetched message without a trace, and then counts its
            # offset as a gap that does not exist). Faust would commit past it.
            if acked and min(acked) > committed:
                self._refuse(tp, committed, "the next message to commit was never settled")
                return None
        if refused and acked and min(refused) < min(acked):
            return None  # the head of the partition was not processed: commit nothing past it
        offset: int | None = super()._new_offset(tp)
        return offset

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, and a known start for partitions the group never
        committed (Faust holds ``None`` there, also for a commit at 0): the log start, where the worker
        begins (``auto_offset_reset=earliest``). Without it the first commit could pass lost messages.

        Faust seeks only committed partitions; a never-committed one stays where its fetch position
        was, past any records fetched and dropped while the rebalance paused it. So it is sought too:
        to the log start if this worker never handed on a record of it, else just past the last it
        handed on before the rebalance (records already with an agent are not handed on twice)."""
        read_before = self._read_before | {tp: o for tp, o in self._read_offset.items() if o is not None}
        self._read_before = {}
        await super().perform_seek()
        unset = [
            tp
            for tp in self.assignment()
            if self._committed_offset.get(tp) is None and self.app.topics.acks_enabled_for(tp.topic)
        ]
        if unset:
            for tp, offset in (await self.earliest_offsets(*unset)).items():
                if offset is not None and self._committed_offset.get(tp) is None:
                    self._committed_offset[tp] = offset
                    read = read_before.get(tp)
                    if read is not None and read >= offset:
                        await self._seek(tp, read + 1)
                        self._read_offset[tp] = read
                    else:
                        await self._seek(tp, offset)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Faust counts offsets it did not see as acked ("gaps"). They are rare on our topics (no
        compaction; only transactional raw producers leave markers), and a message Faust dropped, or
        a seek back, looks exactly like one. So no gap counts: the commit waits for a settled
        message, and an offset that truly holds none is passed over by ``_read_again``."""

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:  # re-assigned partitions are read again from their committed offsets
            read = self._read_offset.get(tp)
            if read is not None:
                self._read_before[tp] = read
            self.refused.pop(tp, None)
            self.finished.pop(tp, None)
            self._progress.pop(tp, None)
        self._tries = {key: n for key, n in self._tries.items() if key[0] not in revoked}
        await super().on_partitions_revoked(revoked)

    async def watch_progress(self, now: float | None = None) -> list[TP]:
        """Read again, from its commit, any partition that stopped moving; returns those partitions.

        A partition's commit can only move once the message at its committed offset (its *head*) is
        settled. It has stopped when it is behind its log end, neither its read nor its committed
        offset moved for ``STALL_S``, and no agent holds its head (taken by a stream and not yet
        settled, or waiting in a stream buffer). Faust can leave a partition so (a message dropped at a
        rebalance with nothing after it to reveal the hole, a fetch pause that is never lifted);
        nothing else would wake it. Other messages of the partition being worked on do not count: the
        commit cannot pass the head whatever becomes of them. A partition whose head an agent holds
        that long is only logged (``consumer.partition_slow``): a hung agent, not a lost message.
        """
        now = time.monotonic() if now is None else now
        if self.app.rebalancing or self.app.in_recovery:
            self._progress.clear()
            return []
        assigned = [tp for tp in self.assignment() if self.app.topics.acks_enabled_for(tp.topic)]
        ends = await self.highwaters(*assigned) if assigned else {}
        # Faust marks a message acked before it decides whether to count it, and may keep it in this
        # set: only the ones nobody acked are in flight.
        in_flight = {(m.tp, m.offset) for m in list(self._unacked_messages) if not m.acked}
        buffered = _buffered_messages(self.app)
        stalled = []
        for tp in assigned:
            committed, end = self._committed_offset.get(tp), ends.get(tp)
            if committed is None or end is None or end <= committed or tp in self._seeks:
                self._progress.pop(tp, None)
                continue
            mark = (committed, self._read_offset.get(tp))
            seen = self._progress.get(tp)
            if seen is None or seen[0] != mark:
                self._progress[tp] = (mark, now)
                continue
            head = (
                "in flight"
                if (tp, committed) in in_flight
                else "buffered"
                if (tp, committed) in buffered
                else "settled, not committed"  # the commit itself fails: reading again cannot help
                if committed in self._acked_index.get(tp, ())
                else "nowhere"
            )
            held = head != "nowhere"
            if now - seen[1] < (SLOW_S if held else STALL_S):
                continue
            self._progress[tp] = (mark, now)
            facts = {
                "topic": tp.topic,
                "partition": tp.partition,
                "committed": committed,
                "log_end": end,
                "read_offset": mark[1],
                "seconds": round(now - seen[1]),
                "head": head,
                "in_flight": sum(1 for t, o in in_flight if t == tp and o >= committed),
                "buffered": sum(1 for t, o in buffered if t == tp and o >= committed),
                "fetching": tp in self._get_active_partitions(),
                "paused": tp in self._paused_partitions,
                "refused": sorted(self.refused.get(tp, ()))[:5],
            }
            if held:  # a hung agent or a failing commit: say so, but do not read the head twice
                log.warning("consumer.partition_slow", **facts)
                continue
            stalled.append(tp)
            log.warning("consumer.partition_stalled", **facts)
            self.resume_partitions({tp})
            self._buffered_partitions.discard(tp)
            await self._seek(tp, committed)
            self._read_offset.rewind(tp, committed)  # type: ignore[attr-defined]
        return stalled


def _buffered_messages(app: AppT) -> set[tuple[TP, int]]:
    """(partition, offset) of every message waiting in some agent's stream buffer."""
    found: set[tuple[TP, int]] = set()
    for channel in app.topics:  # the conductor iterates over the topics agents read
        queue = getattr(getattr(channel, "_queue", None), "_queue", None) or ()  # without creating one
        for event in list(queue):
            message = getattr(event, "message", None)
            if message is not None:
                found.add((message.tp, message.offset))
    return found


async def skip_finished(stream: StreamT[Any], events: list[EventT[Any]]) -> list[EventT[Any]]:
    """Settle the events this worker already finished since the partition was assigned (a seek back
    reads them again); returns the others, in order."""
    finished: defaultdict[TP, set[int]] = stream.app.consumer.finished  # type: ignore[attr-defined]
    done = [e for e in events if e.message.offset in finished.get(e.message.tp, ())]
    if not done:
        return events
    await settle(stream, done)
    return [e for e in events if e not in done]


async def settle(stream: StreamT[Any], events: Iterable[EventT[Any]]) -> None:
    """Mark events as finished (their outputs are acknowledged) and ack them."""
    consumer = stream.app.consumer
    settled: WeakSet[Message] = consumer.settled  # type: ignore[attr-defined]
    for event in events:
        settled.add(event.message)
        await stream.ack(event)


async def release(stream: StreamT[Any], events: Iterable[EventT[Any]]) -> None:
    """Ack events without settling them: the consumer refuses, holds the commit and reads them again."""
    for event in events:
        await stream.ack(event)


@asynccontextmanager
async def settling(stream: StreamT[Any], events: list[EventT[Any]], agent: str) -> AsyncIterator[None]:
    """Run an agent's work on some inputs: settle them if it finishes, release them if it raises.

    The exception is logged and goes no further. An agent must never raise: Faust restarts a crashed
    agent and silently drops what its stream had buffered (and, in ``take_events``, keeps a stray
    reader of the stream that acks what it takes).
    """
    try:
        yield
    except Exception as exc:
        log.error(
            "agent.inputs_released",
            agent=agent,
            error=f"{type(exc).__name__}: {exc}",
            offsets=[(e.message.topic, e.message.partition, e.message.offset) for e in events][:20],
        )
        await release(stream, events)
    else:
        await settle(stream, events)
