"""`make run`: the whole loop on a real broker, for a person to watch.

Starts the local Kafka broker (unless WIREPIPE_KAFKA_BOOTSTRAP points at one), a worker, produces the
demo set, prints one readable line per outcome as it arrives, then stops everything it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from pipeline.cli import render

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> int:
    """Run the demo; returns 0 when every demo message got its outcome."""
    from kafka import KafkaConsumer  # noqa: PLC0415

    started = time.perf_counter()
    expected = sum(1 for line in DEMO.read_bytes().splitlines() if line.strip())
    with ExitStack() as stack:
        env = dict(os.environ)
        if not env.get("WIREPIPE_KAFKA_BOOTSTRAP"):
            from pipeline.localkafka.broker import LocalBroker  # noqa: PLC0415

            print("starting the local Kafka broker (first run downloads its jars with mvn)...", flush=True)
            broker = stack.enter_context(LocalBroker())
            env["WIREPIPE_KAFKA_BOOTSTRAP"] = broker.bootstrap
            print(f"broker ready at {broker.bootstrap} in {time.perf_counter() - started:.1f}s", flush=True)
        run_id = uuid.uuid4().hex[:8]
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wirepipe-demo-")))
        env.update(
            {
                "WIREPIPE_APP_ID": f"wirepipe-demo-{run_id}",
                "WIREPIPE_TOPIC_RAW": f"demo-{run_id}.raw",
                "WIREPIPE_TOPIC_ENRICHED": f"demo-{run_id}.enriched.v1",
                "WIREPIPE_TOPIC_DEADLETTER": f"demo-{run_id}.deadletter.v1",
                "WIREPIPE_TOPIC_QUOTES": f"demo-{run_id}.quotes.v1",
                "WIREPIPE_PARTITIONS": env.get("WIREPIPE_PARTITIONS", "4"),
                "WIREPIPE_WEB_PORT": str(_free_port()),
                "WIREPIPE_DATA_DIR": str(workdir / "worker"),
                "WIREPIPE_LOG_FORMAT": "json",
            }
        )
        wirepipe = str(Path(sys.executable).with_name("wirepipe"))
        subprocess.run([wirepipe, "topics"], env=env, check=True, stderr=subprocess.DEVNULL)
        log_path = ROOT / ".wirepipe" / "demo-worker.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = stack.enter_context(log_path.open("wb"))
        worker = subprocess.Popen([wirepipe, "worker"], env=env, stdout=log_file, stderr=subprocess.STDOUT)
        stack.callback(_stop, worker)
        print(
            f"worker started (log: {log_path.relative_to(ROOT)}); producing {expected} demo messages",
            flush=True,
        )
        subprocess.run([wirepipe, "produce", str(DEMO)], env=env, check=True)

        consumer = KafkaConsumer(
            env["WIREPIPE_TOPIC_ENRICHED"],
            env["WIREPIPE_TOPIC_DEADLETTER"],
            bootstrap_servers=env["WIREPIPE_KAFKA_BOOTSTRAP"].split(","),
            group_id=None,
            auto_offset_reset="earliest",
            consumer_timeout_ms=1000,
            max_partition_fetch_bytes=16_777_216,
        )
        stack.callback(consumer.close)
        seen, deadline = 0, time.monotonic() + 300
        while seen < expected and time.monotonic() < deadline:
            if worker.poll() is not None:
                print(f"the worker exited with code {worker.returncode}; see {log_path}", file=sys.stderr)
                return 1
            for message in consumer:
                if message.value is None:
                    print(f"  TOMBSTONE  {message.key.decode()} (withdrawn story removed on compaction)")
                    continue
                seen += 1
                print(f"  {render(message.value)}", flush=True)
        print(f"{seen}/{expected} outcomes in {time.perf_counter() - started:.1f}s; stopping.", flush=True)
        return 0 if seen >= expected else 1


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
