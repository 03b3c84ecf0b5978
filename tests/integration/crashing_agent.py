"""A minimal Faust worker on Wirepipe's consumer, for test_refused_acks.py: its batch agent's work fails
once, on the batch holding the value ``boom``, inside ``settling`` as the worker's agents do; every value
it finishes is printed.

Run as ``python crashing_agent.py worker`` with BOOTSTRAP, APP_ID, TOPIC and DATA_DIR in the environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from pipeline.faust_acks import WirepipeApp, settling

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
state = {"crashed": False}


@app.agent(topic)
async def batches(stream: Any) -> AsyncIterator[None]:
    async for events in stream.take_events(8, within=0.5):
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
