"""`wirepipe show --uri` against a real broker: the key's last record on the enriched topic."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.records import EnrichedArticle
from tests.brokers import create_topics, produce, unique_name

pytestmark = pytest.mark.integration


def _value(uri: str, version: int, headline: str) -> bytes:
    record = EnrichedArticle(
        outcome="enriched" if version == 1 else "update",
        id=uri,
        version=version,
        headline=headline,
        processed_at=datetime(2026, 12, 6, tzinfo=UTC),
    )
    return record.model_dump_json().encode()


def _show(kafka_bootstrap: str, topic: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WIREPIPE_KAFKA_BOOTSTRAP": kafka_bootstrap, "WIREPIPE_TOPIC_ENRICHED": topic}
    command = [sys.executable, "-m", "pipeline.cli", "show", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_show_uri_renders_the_last_record_of_the_key_and_exits_2_for_an_unknown_key(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = unique_name("enriched")
    create_topics(kafka_bootstrap, [topic], partitions=3)
    produce(
        kafka_bootstrap,
        topic,
        [
            (b"urn:test:show", _value("urn:test:show", 1, "First version")),
            (b"urn:test:other", _value("urn:test:other", 1, "Another story")),
            (b"urn:test:show", _value("urn:test:show", 2, "Second version")),
        ],
    )
    page = tmp_path / "page.html"

    shown = _show(kafka_bootstrap, topic, "--uri", "urn:test:show", "-o", str(page))
    missing = _show(kafka_bootstrap, topic, "--uri", "urn:test:nowhere", "--timeout", "20")

    assert shown.returncode == 0, shown.stderr
    assert "Second version" in page.read_text(encoding="utf-8")
    assert "First version" not in page.read_text(encoding="utf-8")
    assert missing.returncode == 2 and "no record keyed 'urn:test:nowhere'" in missing.stderr
