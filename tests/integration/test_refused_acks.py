"""On the real broker: a batch whose work failed before it was settled is read again and finished, a last
message lost on its way to the agent is read again once its partition stops moving, and the group's
commit reaches the end of the topic with no message skipped (Faust alone acks such a batch)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.brokers import create_topics, produce, unique_name
from tests.workers import ROOT

pytestmark = pytest.mark.integration

APP = Path(__file__).with_name("crashing_agent.py")
VALUES = [f"m{i:02d}" for i in range(40)]
VALUES[13] = "boom"
VALUES[-1] = "lost"  # produced last, alone: no later message reveals the hole


def committed(bootstrap: str, group: str, tp: TopicPartition) -> int | None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        offset: int | None = consumer.committed(tp)
        return offset
    finally:
        consumer.close()


def test_a_failed_batch_and_a_lost_message_are_read_again_and_nothing_is_skipped(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic, group = unique_name("t-crash"), unique_name("crash")
    create_topics(kafka_bootstrap, [topic])
    produce(kafka_bootstrap, topic, [(None, value.encode()) for value in VALUES[:-1]], partition=0)

    log = tmp_path / "crashing_agent.log"
    env = {
        **os.environ,
        "BOOTSTRAP": kafka_bootstrap,
        "APP_ID": group,
        "TOPIC": topic,
        "DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, str(APP), "worker", "--loglevel", "info"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    done: set[str] = set()
    offset = None
    try:
        deadline = time.monotonic() + 180
        for expected in (VALUES[:-1], VALUES):  # the last one once the rest is finished and committed
            if expected[-1] == "lost":
                produce(kafka_bootstrap, topic, [(None, b"lost")], partition=0)
            while time.monotonic() < deadline and worker.poll() is None:
                done = set(re.findall(r"DONE=(\w+)", log.read_text(errors="replace")))
                offset = committed(kafka_bootstrap, group, TopicPartition(topic, 0))
                if done >= set(expected) and offset == len(expected):
                    break
                time.sleep(1)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    text = log.read_text(errors="replace")
    assert re.search(r"CRASH=[\w,]*boom", text), text[-3000:]
    assert "consumer.ack_refused" in text, text[-3000:]
    assert "DROPPED=lost" in text and "consumer.partition_stalled" in text, text[-3000:]
    assert sorted(set(VALUES) - done) == [], text[-3000:]
    assert offset == len(VALUES)
