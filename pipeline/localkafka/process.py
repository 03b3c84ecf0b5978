"""The OS side of a local Kafka node: free ports, its JVM process, cleanup that outlives its owner,
and the checks that it is up."""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.localkafka.jars import BrokerError


@dataclass
class Runtime:
    """What must be cleaned up even if the owning node is never closed (kept apart from it so the
    finalizer does not hold the node alive)."""

    proc: subprocess.Popen[bytes] | None = None
    stdout: IO[bytes] | None = None
    temp_dir: Path | None = None
    stop_timeout_s: float = 30.0


def terminate(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """SIGTERM (Kafka shuts down in order), then SIGKILL if it has not exited in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def cleanup(runtime: Runtime) -> None:
    if runtime.proc is not None:
        terminate(runtime.proc, runtime.stop_timeout_s)
        runtime.proc = None
    if runtime.stdout is not None:
        runtime.stdout.close()
        runtime.stdout = None
    if runtime.temp_dir is not None:
        shutil.rmtree(runtime.temp_dir, ignore_errors=True)
        runtime.temp_dir = None


def free_port(*, besides: tuple[int | None, ...] = ()) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and not one of ``besides``
    (the kernel can hand the same free port out twice in a row)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in besides:
            return port


def new_cluster_id() -> str:
    """A KRaft cluster id: a random UUID as 22 characters of unpadded base64url.

    Kafka's own generator rerolls ids starting with '-' so they never look like a CLI flag.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):
            return text


def tail(path: Path, lines: int = 25, since: int = 0) -> str:
    """The last lines of a log, from byte ``since`` on (a file appended to across restarts)."""
    try:
        with path.open("rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:])


def rss_bytes(pid: int | None) -> int:
    """Resident memory of a process (Linux /proc), 0 when there is none."""
    if pid is None:
        return 0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a live process (Linux /proc), 0 when there is none."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


class PortTakenError(BrokerError):
    """The JVM could not bind one of its ports."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on 127.0.0.1 is already in use")
        self.port = port


def check_alive(proc: subprocess.Popen[bytes], stdout_log: Path, since: int, server_log: Path) -> None:
    """Raise, with the end of its logs, if the JVM exited (``PortTakenError`` when it could not bind)."""
    code = proc.poll()
    if code is None:
        return
    output = tail(stdout_log, since=since) + "\n" + tail(server_log)
    bind = re.search(r"failed to bind to [^:\s]+:(\d+)", output)
    if bind is not None:
        raise PortTakenError(int(bind.group(1)))
    raise BrokerError(
        f"Kafka exited with code {code} before it was ready; see {server_log} and {stdout_log}:\n"
        + output.strip()
    )


def wait_listening(port: int, deadline: float, alive: Callable[[], None], hint: str) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections (Kafka opens it once its acceptor is ready)."""
    while True:
        alive()
        if time.monotonic() > deadline:
            raise BrokerError(f"Kafka did not open 127.0.0.1:{port} in time; {hint}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)


def wait_listed(bootstrap: str, node_id: int, deadline: float, alive: Callable[[], None]) -> None:
    """One metadata round trip that lists node ``node_id``: its listener is up and it is unfenced."""
    from kafka.admin import KafkaAdminClient  # noqa: PLC0415 - kafka-python is only needed here
    from kafka.errors import KafkaError  # noqa: PLC0415

    last_error: Exception | str | None = None
    while time.monotonic() < deadline:
        alive()
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                request_timeout_ms=5000,
                bootstrap_timeout_ms=5000,
                client_id="wirepipe-broker-probe",
            )
            try:
                brokers = admin.describe_cluster()["brokers"]
            finally:
                admin.close()
            if any(b["broker_id"] == node_id for b in brokers):
                return
            last_error = f"node {node_id} not among the live brokers {brokers}"
        except KafkaError as exc:
            last_error = exc
        time.sleep(0.1)
    raise BrokerError(f"Kafka at {bootstrap} accepted connections but no metadata: {last_error}")
