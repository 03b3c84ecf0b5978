"""Start and stop real `wirepipe worker` processes for integration tests (each with its own topics)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIREPIPE = str(Path(sys.executable).with_name("wirepipe"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Deployment:
    """One isolated Wirepipe deployment on a broker: its own app id and topics."""

    bootstrap: str
    partitions: int = 4
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def topics(self) -> dict[str, str]:
        return {
            "raw": f"t-{self.run_id}.raw",
            "enriched": f"t-{self.run_id}.enriched",
            "deadletter": f"t-{self.run_id}.deadletter",
            "quotes": f"t-{self.run_id}.quotes",
        }

    def env(self, **overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "WIREPIPE_KAFKA_BOOTSTRAP": self.bootstrap,
                "WIREPIPE_APP_ID": f"wirepipe-test-{self.run_id}",
                "WIREPIPE_TOPIC_RAW": self.topics["raw"],
                "WIREPIPE_TOPIC_ENRICHED": self.topics["enriched"],
                "WIREPIPE_TOPIC_DEADLETTER": self.topics["deadletter"],
                "WIREPIPE_TOPIC_QUOTES": self.topics["quotes"],
                "WIREPIPE_PARTITIONS": str(self.partitions),
                "WIREPIPE_LOG_FORMAT": "json",
            }
        )
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def run(
        self, *args: str, input_bytes: bytes | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a wirepipe sub-command against this deployment; returns how it ended, failure included."""
        return subprocess.run(
            [WIREPIPE, *args],
            env=self.env(),
            input=input_bytes,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def wirepipe(self, *args: str, input_bytes: bytes | None = None, timeout: float = 120) -> bytes:
        """Run a wirepipe sub-command against this deployment and assert it succeeded; returns its stdout."""
        done = self.run(*args, input_bytes=input_bytes, timeout=timeout)
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        return done.stdout


def deploy(bootstrap: str, partitions: int = 4) -> Deployment:
    """A fresh deployment on ``bootstrap`` with its topics created: where a worker test starts."""
    deployment = Deployment(bootstrap=bootstrap, partitions=partitions)
    deployment.wirepipe("topics")
    return deployment


class Worker:
    """A `wirepipe worker` subprocess with its own web port, data dir and log file."""

    def __init__(
        self, deployment: Deployment, log_dir: Path, name: str = "w1", command: list[str] | None = None
    ) -> None:
        """Start ``wirepipe worker`` (or ``command``, which must exec it) with the deployment's settings."""
        self.port = free_port()
        self.log_path = log_dir / f"{deployment.run_id}-{name}.log"
        env = deployment.env(
            WIREPIPE_WEB_PORT=str(self.port),
            WIREPIPE_WEB_HOST="127.0.0.1",
            WIREPIPE_DATA_DIR=str(log_dir / f"{deployment.run_id}-{name}-data"),
        )
        self._log = self.log_path.open("ab")
        self._terminated = False
        self.process = subprocess.Popen(
            command or [WIREPIPE, "worker"], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 120) -> float:
        """Wait until /ready says the model is loaded and partitions are assigned; returns seconds."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url("/ready"), timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"worker not ready after {timeout}s: {self.log_tail()}")

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url(path), timeout=5) as response:
            return str(response.read().decode())

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_bytes()[-n:].decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final commit."""
        self.process.kill()
        self.process.wait(timeout=30)

    def terminate(self) -> None:
        """SIGTERM, once: the graceful shutdown begins (``stop`` waits for it)."""
        if self.process.poll() is None and not self._terminated:
            self.process.send_signal(signal.SIGTERM)
            self._terminated = True

    def stop(self) -> None:
        """SIGTERM and wait for a graceful shutdown."""
        self.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self._log.close()


def stop_all(workers: Iterable[Worker]) -> None:
    """Stop workers gracefully, all at once: stopped one after another, those still running would take
    over the partitions (and restore the tables) of each that left, only to stop in turn."""
    running = list(workers)
    for worker in running:
        worker.terminate()
    for worker in running:
        worker.stop()
