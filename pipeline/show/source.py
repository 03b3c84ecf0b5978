"""Where `wirepipe show` finds its record (enriched JSON lines or the enriched topic); serving its page."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from pydantic import ValidationError

from pipeline.logs import get_logger
from pipeline.settings import Settings
from pipeline.show.page import CONTENT_POLICY
from schemas.records import DeadLetter, EnrichedArticle

_POLL_MS = 500


class ShowError(Exception):
    """No record to show: the uri is not there, the input holds no record, or the record is not one."""


def record_id(data: object) -> str | None:
    """The article id of a decoded output line: ``id`` of an outcome, ``article_id`` of a dead letter."""
    if not isinstance(data, dict):
        return None
    value = data.get("article_id") if "error_code" in data else data.get("id")
    return value if isinstance(value, str) and value else None


def last_from_lines(lines: Iterable[bytes], uri: str | None) -> bytes:
    """The line of the record to show: the last one of ``uri`` (default: the first line's id).

    As on the compacted topic, where a late lower version is published under a key of its own, a
    ``stale`` outcome does not replace an earlier record of the id; it is shown when it is all there is.
    """
    chosen: bytes | None = None
    stale: bytes | None = None
    for line in lines:
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        found = record_id(data)
        if found is None:
            continue
        if uri is None:
            uri = found
        if found == uri:
            if data.get("outcome") == "stale":
                stale = line
            else:
                chosen = line
    if uri is None:
        raise ShowError("the input holds no record (expected the JSON lines `wirepipe enrich` writes)")
    shown = chosen if chosen is not None else stale
    if shown is None:
        raise ShowError(f"no record with id {uri!r} in the input")
    return shown


def parse_record(value: bytes) -> EnrichedArticle | DeadLetter:
    """One output line as its model: a dead letter when it carries an ``error_code``, else an outcome."""
    try:
        data = orjson.loads(value)
        if isinstance(data, dict) and "error_code" in data:
            return DeadLetter.model_validate(data)
        return EnrichedArticle.model_validate(data)
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise ShowError(f"the record is not an enriched article or a dead letter: {exc}") from exc


def last_from_topic(settings: Settings, uri: str, *, timeout_s: float) -> bytes:
    """The last record keyed ``uri`` on the enriched topic, read from the beginning to the end (no group)."""
    from kafka import KafkaConsumer  # noqa: PLC0415 - only the topic path pays for the Kafka client

    from pipeline.stream.kafka_config import check_credentials, kafka_python_options  # noqa: PLC0415

    check_credentials(settings)
    consumer = KafkaConsumer(
        **kafka_python_options(settings),
        group_id=None,
        enable_auto_commit=False,
        client_id="wirepipe-show",
        fetch_max_bytes=settings.topic_max_message_bytes,
        max_partition_fetch_bytes=settings.topic_max_message_bytes,
    )
    try:
        return last_value(consumer, settings.topic_enriched, uri.encode(), timeout_s=timeout_s)
    finally:
        consumer.close()


def last_value(consumer: Any, topic: str, key: bytes, *, timeout_s: float) -> bytes:
    """The last value under ``key`` in ``topic``, reading every partition from its beginning to the end
    offset it had when we started. A tombstone does not hide an earlier value (a withdrawn story's record
    comes just before its tombstone). Past ``timeout_s`` what was found is used, with a warning."""
    from kafka import TopicPartition  # noqa: PLC0415

    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise ShowError(f"the topic {topic} does not exist")
    assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    ends = consumer.end_offsets(assigned)
    found: bytes | None = None
    deadline = time.monotonic() + timeout_s
    while behind := [tp for tp in assigned if consumer.position(tp) < ends[tp]]:
        if time.monotonic() > deadline:
            if found is None:
                raise ShowError(
                    f"no record keyed {key.decode()!r} in the first {timeout_s:g} s of reading {topic} "
                    f"({len(behind)} partitions not read to their end; try a longer --timeout)"
                )
            get_logger().warning("show.topic_partly_read", topic=topic, unread_partitions=len(behind))
            break
        for messages in consumer.poll(timeout_ms=_POLL_MS).values():
            for message in messages:
                if message.key == key and message.value is not None:
                    found = message.value
    if found is None:
        raise ShowError(f"no record keyed {key.decode()!r} on {topic}")
    return found


def serve(page: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve ``page`` at http://127.0.0.1:PORT/ (port 0: any free one) until interrupted (Ctrl-C)."""
    body = page.encode("utf-8", "replace")

    class _PageHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in {"/", "/index.html"}:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", CONTENT_POLICY)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            get_logger().debug("show.request", line=format % args)

    with ThreadingHTTPServer(("127.0.0.1", port), _PageHandler) as server:
        announce(f"http://127.0.0.1:{server.server_address[1]}/")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it ends
            server.serve_forever()
