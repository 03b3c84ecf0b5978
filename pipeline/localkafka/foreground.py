"""``wirepipe broker``: one local Kafka node, or a cluster of several, in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from types import FrameType

import structlog

from pipeline.localkafka.broker import LocalBroker
from pipeline.localkafka.cluster import LocalCluster
from pipeline.localkafka.jars import DEFAULT_HOME

log = structlog.get_logger(__name__)


def run_foreground(port: int = 9092, home: Path = DEFAULT_HOME, nodes: int = 1) -> int:
    """Start a node on ``port`` (``nodes`` > 1: a cluster on ``port``, ``port + 1``, ...), print its
    bootstrap servers, run until Ctrl-C or SIGTERM; 1 if a node exits by itself."""
    stop = threading.Event()

    def _request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        started = time.monotonic()
        if nodes == 1:
            with LocalBroker(home, port=port) as broker:
                log.info(
                    "kafka.broker.ready",
                    kafka=broker.kafka_version,
                    bootstrap=broker.bootstrap,
                    log_file=str(broker.log_file),
                    data_dir=str(broker.data_dir),
                )
                print(broker.bootstrap, flush=True)
                return _wait(stop, [broker])
        with LocalCluster(nodes, home, port=port) as cluster:
            log.info(
                "kafka.cluster.ready",
                kafka=cluster.jars.kafka_version,
                bootstrap=cluster.bootstrap,
                active_controller=cluster.active_controller(),
                min_insync_replicas=cluster.min_insync_replicas,
                data_dir=str(cluster.data_dir),
                seconds=round(time.monotonic() - started, 1),
                rss_mib={n: round(b / 2**20) for n, b in cluster.rss_bytes().items()},
            )
            print(cluster.bootstrap, flush=True)
            return _wait(stop, cluster.nodes)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait(stop: threading.Event, nodes: list[LocalBroker]) -> int:
    while not stop.wait(0.5):
        for node in nodes:
            if not node.running:
                log.error("kafka.broker.exited", node_id=node.node_id, log_file=str(node.log_file))
                return 1
    return 0
