"""A minimal Faust worker on Wirepipe's consumer, for test_refused_acks.py: its batch agent's work fails
once, on the batch holding the value ``boom``, inside ``settling`` as the worker's agents do; the value
``lost`` vanishes once on its way to the agent, as a message Faust drops does (not acked, not tracked);
every value it finishes is printed. The agent keeps every batch it took: a Faust agent holds at least
its last one (the loop variable) while it waits for the next, so the test does not depend on which batch
``lost`` arrives in. Partitions are checked for stalls every second, after 5 s.

Run as ``python crashing_agent.py worker`` with BOOTSTRAP, APP_ID, TOPIC and DATA_DIR in the environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from pipeline.stream import acks as faust_acks
from pipeline.stream import transport as faust_transport
from pipeline.stream.acks import settling
from pipeline.stream.transport import WirepipeApp

faust_acks.STALL_S = 5.0
faust_acks.WATCH_EVERY_S = 1.0
# The app's timer reads the interval from the transport module's own copy of the name, when the app is
# built: set only in acks, the watch ran every 10 s and the stall took 10-20 s to be seen instead of 5-6.
faust_transport.WATCH_EVERY_S = 1.0

app = WirepipeApp(
    os.environ["APP_ID"],
    broker=f"kafka://{os.environ['BOOTSTRAP']}",
    datadir=os.environ["DATA_DIR"],
    store="memory://",
    key_serializer="raw",
    value_serializer="raw",
    consumer_auto_offset_reset="earliest",
    broker_commit_interval=0.5,
    web_enabled=False,
)
topic = app.topic(os.environ["TOPIC"], partitions=1)
state = {"crashed": False, "dropped": False}
taken: list[list[Any]] = []  # every batch the agent took, kept alive


@app.agent(topic)
async def batches(stream: Any) -> AsyncIterator[None]:
    async for events in stream.take_events(8, within=0.5):
        taken.append(list(events))
        lost = [e for e in events if e.value == b"lost" and not state["dropped"]]
        for event in lost:
            state["dropped"] = True
            print("DROPPED=lost", flush=True)
            app.consumer._unacked_messages.discard(event.message)  # type: ignore[attr-defined]
            event.message.acked = True  # no later ack (take_events acks its batch) reaches the consumer
            events.remove(event)
        async with settling(stream, events, "batches"):
            values = [event.value.decode() for event in events]
            if "boom" in values and not state["crashed"]:
                state["crashed"] = True
                print(f"CRASH={','.join(values)}", flush=True)
                raise RuntimeError("injected failure before the batch was settled")
            for value in values:
                print(f"DONE={value}", flush=True)
        yield None


if __name__ == "__main__":
    app.main()
