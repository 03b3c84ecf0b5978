"""pipeline/stream/acks.py (and transport.py) override and rely on Faust internals that are no public API:
the consumer's ack, commit-offset, seek, gap and revoke methods and the attributes its __init__ sets, the
transport's Consumer class and topic creation, the app's transport factory, and the stream's take_events,
noack, ack and events. It was written against faust-streaming 0.15.3 (pinned in pyproject.toml). These
tests fail when another release is installed or when any of those methods' source differs from the one
acks.py was checked against.

After an upgrade: read each changed method next to acks.py, fix acks.py where needed, run the consumer's
tests (tests/unit/test_acks.py, tests/integration/test_refused_acks.py, tests/faults/), then record the
new fingerprints printed by the failing test here.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faust.app.base import App
from faust.streams import Stream
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka

ROOT = Path(__file__).resolve().parents[2]
WRITTEN_AGAINST = "0.15.3"

# What acks.py and transport.py override (o) or call/read (r), and where Faust defines it.
INTERNALS: dict[str, Callable[..., Any] | type] = {
    "Consumer.__init__ (r: _acked, _committed_offset, _read_offset, ...)": (faust_consumer.Consumer.__init__),
    "Consumer.ack (o)": faust_consumer.Consumer.ack,
    "Consumer._new_offset (o)": faust_consumer.Consumer._new_offset,
    "Consumer.perform_seek (o)": faust_consumer.Consumer.perform_seek,
    "Consumer._add_gap (o)": faust_consumer.Consumer._add_gap,
    "Consumer.on_partitions_revoked (o)": faust_consumer.Consumer.on_partitions_revoked,
    "Consumer._get_active_partitions (r)": faust_consumer.Consumer._get_active_partitions,
    "ThreadDelegateConsumer._seek (r)": faust_consumer.ThreadDelegateConsumer._seek,
    "aiokafka.Transport (o: Consumer, Producer, _create_topic)": faust_aiokafka.Transport,
    "App._new_transport (o)": App._new_transport,
    "Stream.take_events (r)": Stream.take_events,
    "Stream.noack (r)": Stream.noack,
    "Stream.ack (r)": Stream.ack,
    "Stream.events (r)": Stream.events,
}

FINGERPRINTS = {
    "Consumer.__init__ (r: _acked, _committed_offset, _read_offset, ...)": "371cc115a52a5457",
    "Consumer.ack (o)": "2f4c7eb0884498ef",
    "Consumer._new_offset (o)": "08b16e005caa3e6f",
    "Consumer.perform_seek (o)": "d98522034ac0c830",
    "Consumer._add_gap (o)": "2071c0b9abd40afd",
    "Consumer.on_partitions_revoked (o)": "62d48e0376a354b6",
    "Consumer._get_active_partitions (r)": "f1783fb711ba8955",
    "ThreadDelegateConsumer._seek (r)": "70501c8d8103156f",
    "aiokafka.Transport (o: Consumer, Producer, _create_topic)": "957d1860cea04543",
    "App._new_transport (o)": "f178964a2eebcb4d",
    "Stream.take_events (r)": "e139059be4d67726",
    "Stream.noack (r)": "2723735e00656071",
    "Stream.ack (r)": "bb604629ac24fa40",
    "Stream.events (r)": "4df84d98555be8d9",
}


def _fingerprint(obj: Callable[..., Any] | type) -> str:
    source = inspect.getsource(obj)
    normalised = "\n".join(line.rstrip() for line in source.splitlines() if line.strip())
    return hashlib.sha256(normalised.encode()).hexdigest()[:16]


def test_the_installed_faust_streaming_is_the_release_acks_py_was_written_against() -> None:
    installed = importlib.metadata.version("faust-streaming")
    pinned = re.search(r'"faust-streaming==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned, "pyproject.toml must pin faust-streaming exactly (==)"
    assert pinned.group(1) == WRITTEN_AGAINST, (
        f"pyproject.toml pins faust-streaming {pinned.group(1)}, but pipeline/stream/acks.py was checked "
        f"against {WRITTEN_AGAINST}: see this module's docstring before changing the pin"
    )
    assert installed == WRITTEN_AGAINST, f"faust-streaming {installed} is installed: run `make install`"


def test_the_faust_internals_acks_py_overrides_are_unchanged() -> None:
    current = {name: _fingerprint(obj) for name, obj in INTERNALS.items()}
    changed = sorted(name for name in INTERNALS if FINGERPRINTS.get(name) != current[name])
    assert not changed, (
        f"Faust internals that pipeline/stream/acks.py overrides or relies on changed (installed "
        f"faust-streaming {importlib.metadata.version('faust-streaming')}, "
        f"written against {WRITTEN_AGAINST}): "
        f"{changed}. Review acks.py against them (see this module's docstring), then record:\n"
        + "\n".join(f"    {name!r}: {value!r}," for name, value in current.items())
    )
