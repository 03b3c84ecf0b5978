#!/usr/bin/env python3
"""Run the HEALTHCHECKs of running Podman containers on their intervals, where no systemd does it.

Podman schedules each container's health check with a systemd timer. On a machine without systemd
(containers, CI sandboxes) no timer is made, every container stays "starting" for ever, and a compose
file whose services wait on `condition: service_healthy` never comes up. This loop stands in for the
timers: every container with a health check gets `podman healthcheck run` once per its interval; Podman
itself applies the start period, the retries and the status. Started by `deploy/containers.sh engine`
when there is no systemd; stopped by `deploy/containers.sh stop`. Standard library only.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

POLL_S = 1.0
LIST_EVERY_S = 2.0


def _running() -> list[str]:
    out = subprocess.run(
        ["podman", "ps", "--filter", "status=running", "--format", "{{.ID}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return out.stdout.split()


def _interval_s(container: str) -> float | None:
    """The container's health-check interval in seconds, or None when it has no (enabled) check."""
    out = subprocess.run(
        ["podman", "inspect", "--format", "json", container],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if out.returncode != 0:
        return None
    config = (json.loads(out.stdout) or [{}])[0].get("Config", {})
    check = config.get("Healthcheck") or {}
    test = check.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    interval_ns = check.get("Interval") or 30_000_000_000  # Docker's default interval, 30 s
    return max(1.0, interval_ns / 1e9)


def main() -> int:
    intervals: dict[str, float | None] = {}
    due: dict[str, float] = {}
    running: dict[str, subprocess.Popen[bytes]] = {}
    listed_at = 0.0
    while True:
        now = time.monotonic()
        if now - listed_at >= LIST_EVERY_S:
            listed_at = now
            alive = set(_running())
            for gone in set(intervals) - alive:
                intervals.pop(gone, None)
                due.pop(gone, None)
            for container in alive - set(intervals):
                intervals[container] = _interval_s(container)
                due[container] = now  # first check at once; podman counts the start period itself
        for container, interval in intervals.items():
            if interval is None or container in running or now < due[container]:
                continue
            due[container] = now + interval
            running[container] = subprocess.Popen(
                ["podman", "healthcheck", "run", container],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        for container, proc in list(running.items()):
            if proc.poll() is not None:
                del running[container]
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main())
