"""The Faust app: its settings, then the agents and probes wired onto it. The thin shell around ``process``.

The agents live one per module in ``agents/`` (ingest, dedup, nlp) and share what ``Wiring.declare``
makes (topics, tables, limits); ``probes`` serves health, readiness and metrics.

Offsets: an agent settles its inputs only after the broker acknowledged every output sent for them, and
Faust flushes the producer (table changelogs) before it commits offsets (faust/transport/consumer.py
``_commit_offsets``), so a crash re-delivers, never loses: at-least-once, with outcomes keyed by uri and
identical on re-emit.
"""

from __future__ import annotations

from typing import Any

import faust

from pipeline.settings import Settings
from pipeline.stream import metrics, probes
from pipeline.stream.agents import dedup, ingest, nlp
from pipeline.stream.cputime import worker_parts
from pipeline.stream.kafka_config import faust_credentials
from pipeline.stream.nlp_process import NlpProcess
from pipeline.stream.tables import Table
from pipeline.stream.topic import Topic
from pipeline.stream.transport import WirepipeApp
from pipeline.stream.wiring import Wiring


def create_app(settings: Settings, nlp_process: NlpProcess) -> faust.App:
    """Build the Faust app around a started NLP process (the worker command starts it first, so a bad
    model stops the worker before it joins the group)."""
    app = WirepipeApp(settings.app_id, **app_options(settings))
    metrics.CPU.measure = lambda: worker_parts(nlp_process.total_cpu_seconds)
    wiring = Wiring.declare(app, settings)
    ingest.register(wiring)
    dedup.register(wiring)
    nlp.register(wiring, nlp_process)
    probes.register(wiring)
    return app


def app_options(settings: Settings) -> dict[str, Any]:
    """Faust's settings for a worker."""
    return {
        "broker": [f"kafka://{hostport}" for hostport in settings.kafka_bootstrap.split(",")],
        "broker_credentials": faust_credentials(settings),
        "Topic": Topic,  # sends skip Faust's per-message producer start-up guard (topic.py)
        "Table": Table,  # writes made for one event of a batch go to that event's partition
        "store": "memory://",
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "topic_allow_declare": True,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "web_port": settings.web_port,
        "web_host": settings.web_host,
        "web_bind": settings.web_host,
        "web_enabled": True,
        "stream_recovery_delay": 0.0,
        # One spaCy batch can take seconds on a slow machine; NLP runs in its own process, so the
        # loop keeps heartbeating, but leave the poll interval generous for the largest batch.
        "broker_max_poll_interval": 600.0,
        "broker_session_timeout": 30.0,
        "broker_heartbeat_interval": 3.0,
        "broker_commit_interval": 1.0,
        "producer_max_request_size": settings.topic_max_message_bytes,
        # Up to 1 MiB per record batch (Faust's default is 16 KiB, four envelopes): what an agent batch
        # sends to one partition goes out as one record batch, which the broker appends and the consumer
        # decodes as one.
        "producer_max_batch_size": 1_048_576,
        "consumer_max_fetch_size": settings.topic_max_message_bytes,
    }
