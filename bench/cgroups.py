"""CPU quotas for the scaling phase: one cgroup per worker, the worker and its NLP process inside it.

Built for what these machines have: cgroups in hybrid mode, the v1 ``cpu`` controller mounted on its own
(``/sys/fs/cgroup/cpu``: ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``, throttling in ``cpu.stat``) and
``cpuacct`` beside it (``cpuacct.usage``: the group's CPU nanoseconds, its exited processes included). Where
the two are mounted together (``cpu,cpuacct``, systemd's v1 layout) one directory has both files. The
unified (v2) hierarchy here has no controller to give (``cgroup.controllers`` is empty), so ``cpu.max`` is
not an option on these machines; on a v2-only machine the phase refuses and says so.

A worker enters its groups before it runs a line of Python: a shell writes its own pid into each group's
``cgroup.procs`` and then ``exec``s the worker, so the worker and every process it starts later (the NLP
process, spawned by multiprocessing) are inside from the start. ``GroupedWorker.processes_in_group``
checks that from ``/proc/<pid>/cgroup``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.workers import WIREPIPE, Deployment, Worker

CPU_ROOT = Path("/sys/fs/cgroup/cpu")
ACCT_ROOT = Path("/sys/fs/cgroup/cpuacct")
PERIOD_US = 100_000  # the kernel's default CFS period: a quota of q cores is q * 100 ms of CPU per 100 ms
PREFIX = "wirepipe-bench-"
# The shell a grouped worker starts as: its pid into every cgroup.procs named before "--", then the worker.
_ENTER = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'


def unavailable() -> str | None:
    """Why per-worker CPU quotas cannot be set here, or None when they can (a probe group was made)."""
    if not (CPU_ROOT / "cpu.cfs_quota_us").exists():
        if Path("/sys/fs/cgroup/cgroup.controllers").exists():
            return (
                "cgroup v2 only (no v1 cpu controller at /sys/fs/cgroup/cpu): the scaling phase sets quotas "
                "with cgroup v1's cpu.cfs_quota_us, as on the machines it was built on; cpu.max is not done"
            )
        return f"no cgroup v1 cpu controller at {CPU_ROOT} (cpu.cfs_quota_us missing)"
    if _acct_root() is None:
        return "no cgroup v1 cpuacct controller: the phase reads each worker's CPU from its cpuacct.usage"
    probe = CPU_ROOT / f"{PREFIX}probe-{os.getpid()}"
    try:
        probe.mkdir(exist_ok=True)
        try:
            (probe / "cpu.cfs_quota_us").write_text(str(PERIOD_US // 4))
        finally:
            probe.rmdir()
    except OSError as exc:
        return f"the cpu controller at {CPU_ROOT} is not writable here: {exc}"
    return None


@dataclass
class CpuGroup:
    """One worker's cgroup: the quota in ``cpu``, the CPU used in ``cpuacct`` (if there is one)."""

    cpu: Path
    acct: Path | None

    @property
    def name(self) -> str:
        return self.cpu.name

    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.directories()]

    def directories(self) -> list[Path]:
        return [self.cpu] + ([self.acct] if self.acct is not None and self.acct != self.cpu else [])

    def set_quota(self, cores: float | None) -> None:
        """Hold the group to ``cores`` CPU (e.g. 0.3: 30 ms of every 100 ms period); None: no limit."""
        (self.cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        quota = -1 if cores is None else max(1000, round(cores * PERIOD_US))
        (self.cpu / "cpu.cfs_quota_us").write_text(str(quota))

    def set_shares(self, shares: int) -> None:
        """The group's weight against other runnable tasks when the CPU is contended (each process outside
        any group weighs 1024): what makes the kernel deliver the quota on a machine others also use."""
        (self.cpu / "cpu.shares").write_text(str(shares))

    def enter(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the group."""
        for procs in self.procs_files():
            procs.write_text(str(pid))

    def quota_cores(self) -> float | None:
        quota = int((self.cpu / "cpu.cfs_quota_us").read_text())
        period = int((self.cpu / "cpu.cfs_period_us").read_text())
        return None if quota < 0 else quota / period

    def usage_seconds(self) -> float:
        """CPU seconds of every process that ran in the group (exited ones too)."""
        if self.acct is None:
            raise RuntimeError(f"{self.name}: no cpuacct group")
        return int((self.acct / "cpuacct.usage").read_text()) / 1e9

    def throttling(self) -> dict[str, float]:
        """Periods with runnable work, those that ran out of quota, and the seconds spent held back."""
        stat = dict(line.split() for line in (self.cpu / "cpu.stat").read_text().splitlines() if line)
        return {
            "periods": int(stat.get("nr_periods", 0)),
            "throttled_periods": int(stat.get("nr_throttled", 0)),
            "throttled_seconds": int(stat.get("throttled_time", 0)) / 1e9,
        }

    def pids(self) -> list[int]:
        return [int(x) for x in (self.cpu / "cgroup.procs").read_text().split()]

    def holds(self, pid: int) -> bool:
        """Whether process ``pid`` is in this group (its ``/proc/<pid>/cgroup`` line for ``cpu``)."""
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return False
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if "cpu" in controllers.split(",") and path.rstrip("/").endswith("/" + self.name):
                return True
        return False

    def remove(self, wait_s: float = 10.0) -> None:
        """Remove the group once its processes have exited; any still there after ``wait_s`` (a worker
        that would not stop) are moved back to the root group first, so no group is ever left behind."""
        deadline = time.monotonic() + wait_s
        for directory in self.directories():
            if not directory.exists():
                continue
            while _pids(directory) and time.monotonic() < deadline:
                time.sleep(0.1)
            for pid in _pids(directory):
                with contextlib.suppress(OSError):  # exited meanwhile
                    (directory.parent / "cgroup.procs").write_text(str(pid))
            for _ in range(50):  # the kernel frees a group a moment after its last task has gone
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


def _pids(directory: Path) -> list[int]:
    try:
        return [int(x) for x in (directory / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _acct_root() -> Path | None:
    if (CPU_ROOT / "cpuacct.usage").exists():  # cpu and cpuacct mounted together
        return CPU_ROOT
    return ACCT_ROOT if (ACCT_ROOT / "cpuacct.usage").exists() else None


def sweep_stale() -> list[str]:
    """Remove the empty groups a killed bench left behind (their names carry its pid); returns their names."""
    removed = []
    for root in {CPU_ROOT, _acct_root() or CPU_ROOT}:
        for directory in root.glob(f"{PREFIX}*"):
            owner = directory.name.removeprefix(PREFIX).split("-", 1)[0]
            if owner.isdigit() and not psutil.pid_exists(int(owner)) and not _pids(directory):
                with contextlib.suppress(OSError):
                    directory.rmdir()
                    removed.append(directory.name)
    return removed


def _new_group(name: str) -> CpuGroup:
    acct_root = _acct_root()
    group = CpuGroup(cpu=CPU_ROOT / name, acct=acct_root / name if acct_root else None)
    for directory in group.directories():
        directory.mkdir()
    return group


@contextlib.contextmanager
def groups(tag: str, count: int, shares: int = 0) -> Iterator[list[CpuGroup]]:
    """``count`` new groups without a quota yet (weighing ``shares`` if given), removed on the way out,
    failure included."""
    made: list[CpuGroup] = []
    try:
        for i in range(count):
            made.append(_new_group(f"{PREFIX}{os.getpid()}-{tag}-w{i + 1}"))
            if shares:
                made[-1].set_shares(shares)
        yield made
    finally:
        for group in made:
            group.remove()


@contextlib.contextmanager
def unlimited(tag: str, pids: list[int], shares: int) -> Iterator[CpuGroup | None]:
    """Processes (the bench, its broker) moved into one group with no quota that weighs ``shares``, so that
    other load on the machine does not take their CPU either; moved back to the root group on the way out.
    ``shares`` 0: nothing is moved (yields None)."""
    if not shares:
        yield None
        return
    group = _new_group(f"{PREFIX}{os.getpid()}-{tag}")
    try:
        group.set_shares(shares)
        for pid in pids:
            group.enter(pid)
        yield group
    finally:
        for directory in group.directories():
            for pid in _pids(directory):
                with contextlib.suppress(OSError):  # exited meanwhile
                    (directory.parent / "cgroup.procs").write_text(str(pid))
        group.remove()


class GroupedWorker(Worker):
    """A ``wirepipe worker`` started inside ``group``: tests/workers.py's ``Worker`` with another command."""

    def __init__(self, deployment: Deployment, log_dir: Path, name: str, group: CpuGroup) -> None:
        self.group = group
        procs = [str(p) for p in group.procs_files()]
        enter = ["/bin/sh", "-c", _ENTER, "enter-cgroup", *procs, "--", WIREPIPE, "worker"]
        super().__init__(deployment, log_dir, name, command=enter)

    def processes_in_group(self) -> dict[int, bool]:
        """The worker and its descendants (its NLP process), each with whether it is inside the group."""
        try:
            tree = [psutil.Process(self.process.pid)]
            tree += tree[0].children(recursive=True)
        except psutil.Error:
            return {}
        return {p.pid: self.group.holds(p.pid) for p in tree}
