"""The docker-compose.yml stack under test: one Compose project with its own name and host ports.

`make compose-test` sets the three variables this reads (`deploy/containers.sh` prints them):
``WIREPIPE_CONTAINER_ENGINE`` (docker or podman, the CLI for kill and inspect), ``WIREPIPE_COMPOSE``
(the compose command line) and ``DOCKER_HOST`` (the engine's API, which Compose talks to).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.localkafka.process import free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "wirepipe:local"


def engine() -> str:
    return os.environ.get("WIREPIPE_CONTAINER_ENGINE", "")


def compose_command() -> list[str]:
    return shlex.split(os.environ.get("WIREPIPE_COMPOSE", ""))


def run(args: list[str], timeout: float = 600, check: bool = True, **kwargs: Any) -> str:
    """Run a command; on failure raise with its output (the reason a stack did not come up is in there)."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{shlex.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout


@dataclass
class Stack:
    """``docker compose -p <project>`` on the repository's compose file, with free loopback host ports."""

    project: str = field(default_factory=lambda: f"wirepipe-test-{uuid.uuid4().hex[:8]}")
    kafka_port: int = field(default_factory=free_port)
    prometheus_port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. WIREPIPE_WORKER_CPUS for Compose

    def __post_init__(self) -> None:
        self.prometheus_port = self.prometheus_port or free_port(besides=(self.kafka_port,))

    @property
    def bootstrap(self) -> str:
        """Where tools on the host reach the broker (its HOST listener, published on loopback)."""
        return f"localhost:{self.kafka_port}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_HOST_PORT": str(self.kafka_port),
            "PROMETHEUS_HOST_PORT": str(self.prometheus_port),
            **self.extra_env,
        }

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        command = [*compose_command(), "-f", str(ROOT / "docker-compose.yml"), "-p", self.project, *args]
        return run(command, timeout=timeout, check=check, env=self.env(), cwd=ROOT)

    def containers(self, service: str | None = None, running_only: bool = True) -> list[dict[str, Any]]:
        """``inspect`` of the project's containers (of one service), found by Compose's labels."""
        filters = ["--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        if running_only:
            filters += ["--filter", "status=running"]
        ids = run([engine(), "ps", "-a", "-q", *filters]).split()
        if not ids:
            return []
        found: list[dict[str, Any]] = json.loads(run([engine(), "inspect", *ids]))
        return found

    def health(self, service: str) -> list[str]:
        return [c["State"].get("Health", {}).get("Status", "none") for c in self.containers(service)]

    def wait_healthy(self, service: str, count: int, timeout_s: float = 600) -> float:
        """Seconds until ``count`` containers of ``service`` are running and healthy."""
        started = time.monotonic()
        while (states := self.health(service)).count("healthy") < count:
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"{service}: {states} after {timeout_s:.0f} s")
            time.sleep(1)
        return time.monotonic() - started

    def kill(self, container: dict[str, Any]) -> None:
        """SIGKILL the container's main process (the worker), as a crash or the OOM killer would."""
        run([engine(), "kill", "--signal", "KILL", container["Id"]])

    def volumes_in_use(self) -> set[str]:
        """Every volume mounted by a container of the project, anonymous ones (images' VOLUMEs) included."""
        return {
            mount["Name"]
            for container in self.containers(running_only=False)
            for mount in container.get("Mounts", [])
            if mount.get("Type") == "volume" and mount.get("Name")
        }

    def leftovers(self) -> dict[str, list[str]]:
        """The project's containers, networks and named volumes that still exist."""
        label = f"label=com.docker.compose.project={self.project}"
        return {
            "containers": run([engine(), "ps", "-a", "-q", "--filter", label]).split(),
            "networks": run([engine(), "network", "ls", "-q", "--filter", label]).split(),
            "volumes": run([engine(), "volume", "ls", "-q", "--filter", label]).split(),
        }

    def prometheus(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"http://127.0.0.1:{self.prometheus_port}{path}{query}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())["data"]


def volumes() -> set[str]:
    """Every volume the engine has (anonymous ones included)."""
    return set(run([engine(), "volume", "ls", "-q"]).split())
