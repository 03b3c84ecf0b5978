"""What the agents share: the app, its topics and tables, the limits, and where outputs go.

``Wiring.declare`` makes every topic and table the worker uses, once, so that an agent module reads
alone: it takes a ``Wiring`` and registers its agent on ``wiring.app``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faust
import orjson

from pipeline.envelope import Limits, Source, limits_from
from pipeline.settings import Settings
from pipeline.stages.dedup import DerivedIndexStore
from pipeline.stream.kafka_config import internal_topic, table_partitions
from pipeline.stream.originals import Originals
from pipeline.stream.publisher import Publisher

#: Messages on the single dedup partition: look up and index an article, or forget a story's uri.
INDEX_KEY = b"index"
FORGET_KEY = b"forget"  # value is a uri: a withdrawn or withheld story leaves the index
# The ingest and dedup agents take up to HOP_BATCH events at once, waiting at most HOP_WITHIN_S for them.
# At a trickle each of the two steps adds up to that much latency, and an idle agent wakes that often to
# find nothing (at 20 ms, two idle agents took 1.6 % of a core); under load batches fill at once.
# (Batches of just what is already queued, without a timeout, made Faust leave partitions unread after a
# rebalance in 3 of 8 two-worker runs, until the consumer's stall watch read them again a minute later.)
HOP_BATCH = 100
HOP_WITHIN_S = 0.05


@dataclass
class WorkerState:
    """What the worker knows of itself: whether it holds partitions, and whether the dedup index must be
    derived again from its table (after every assignment the table may have just been restored)."""

    assigned: bool = False
    rebuild_dedup_index: bool = True


@dataclass
class Wiring:
    """The app's topics, tables and shared pieces, declared once and handed to each agent module."""

    app: faust.App
    settings: Settings
    limits: Limits
    raw_topic: Any
    dedup_topic: Any
    nlp_topic: Any
    versions: Any  # uri -> the version entry (pipeline/stages/versions.py), keyed like the raw topic
    dedup_index: Any  # the dedup articles; their buckets are derived in memory by ``dedup_store``
    dedup_store: DerivedIndexStore
    stories: Any  # uri -> its last published version (``StorySnapshot`` state), keyed like the nlp topic
    originals: Originals
    state: WorkerState = field(default_factory=WorkerState)

    @classmethod
    def declare(cls, app: faust.App, settings: Settings) -> Wiring:
        """Declare the topics and tables on ``app`` (``ensure_topics`` has created them with their
        partition counts and changelogs)."""
        size = {"max.message.bytes": str(settings.topic_max_message_bytes)}  # an envelope holds an article
        tables = table_partitions(settings)
        dedup_index = app.Table("dedup-index", default=None, partitions=tables["dedup-index"])
        return cls(
            app=app,
            settings=settings,
            limits=limits_from(settings),
            raw_topic=app.topic(settings.topic_raw, partitions=settings.partitions),
            dedup_topic=app.topic(
                internal_topic(settings, "dedup"), partitions=1, internal=True, config=size
            ),
            nlp_topic=app.topic(
                internal_topic(settings, "nlp"), partitions=settings.partitions, internal=True, config=size
            ),
            versions=app.Table("versions", default=None, partitions=tables["versions"]),
            dedup_index=dedup_index,
            dedup_store=DerivedIndexStore(dedup_index),
            stories=app.Table("stories", default=None, partitions=tables["stories"]),
            originals=Originals(settings),
        )

    @property
    def dedup_name(self) -> str:
        return str(self.dedup_topic.get_topic_name())

    @property
    def nlp_name(self) -> str:
        return str(self.nlp_topic.get_topic_name())

    def publisher(self, *, read_originals: bool = False) -> Publisher:
        """A publisher for one agent (its own pending sends). ``read_originals``: its dead letters are
        raised after ingest, so their original bytes are read back from the raw topic."""
        s = self.settings
        return Publisher(
            self.app.producer,
            enriched=s.topic_enriched,
            quotes=s.topic_quotes,
            deadletter=s.topic_deadletter,
            originals=self.originals if read_originals else None,
        )


def source_of(event: Any) -> Source:
    """Where an event's message came from, for its dead letter."""
    message = event.message
    return Source(
        value=message.value,
        key=message.key,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
    )


def retraction(uri: str) -> bytes:
    """The nlp-topic message that retracts a story's quotes (in order behind its earlier versions)."""
    return orjson.dumps({"retract": uri})


def retracted_uri(value: bytes | None) -> str | None:
    """The uri of a ``retraction`` message, None for an envelope."""
    if not value or not value.startswith(b'{"retract":'):
        return None
    uri = orjson.loads(value).get("retract")
    return uri if isinstance(uri, str) else None
