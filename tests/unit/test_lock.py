"""The locks (requirements/*.txt, `make lock`) still match pyproject.toml, and agree with each other.

`make install` and the image install only what the locks pin, so a dependency added to pyproject.toml
without `make lock` would be missing everywhere but in the venv of whoever added it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
DEV_LOCK = ROOT / "requirements" / "dev.txt"
HINT = "pyproject.toml and the locks differ: run `make lock` and commit requirements/"
# uv marks a package the project itself asks for with this line among its "# via" lines.
_DIRECT = "wirepipe (pyproject.toml)"


def _project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def _requirements(*extras: str) -> list[Requirement]:
    project = _project()
    listed = list(project["dependencies"])  # type: ignore[call-overload]
    for extra in extras:
        listed += project["optional-dependencies"][extra]  # type: ignore[index]
    return [Requirement(line) for line in listed]


def _lock(path: Path) -> tuple[dict[str, list[str]], set[str]]:
    """Pinned versions by package (one per marker branch of the universal lock), and the direct ones."""
    pins: dict[str, list[str]] = {}
    direct: set[str] = set()
    current = ""
    for line in path.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if pin:
            current = str(canonicalize_name(pin.group(1)))
            pins.setdefault(current, []).append(pin.group(2))
        elif current and line.strip().lstrip("#").strip() in (_DIRECT, f"via {_DIRECT}"):
            direct.add(current)
    return pins, direct


@pytest.mark.parametrize(
    ("lock", "extras"), [(RUNTIME_LOCK, ()), (DEV_LOCK, ("dev", "eval"))], ids=["runtime", "dev"]
)
def test_the_lock_pins_every_dependency_of_pyproject_within_its_range(
    lock: Path, extras: tuple[str, ...]
) -> None:
    pins, _ = _lock(lock)
    for requirement in _requirements(*extras):
        name = str(canonicalize_name(requirement.name))
        assert name in pins, f"{name} is in pyproject.toml but not in {lock.name}. {HINT}"
        for version in pins[name]:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock.name} pins {name}=={version}, outside pyproject's {requirement}. {HINT}"
            )


@pytest.mark.parametrize(
    ("lock", "extras"), [(RUNTIME_LOCK, ()), (DEV_LOCK, ("dev", "eval"))], ids=["runtime", "dev"]
)
def test_the_lock_asks_for_nothing_pyproject_dropped(lock: Path, extras: tuple[str, ...]) -> None:
    _, direct = _lock(lock)
    wanted = {str(canonicalize_name(r.name)) for r in _requirements(*extras)}
    assert direct == wanted, (
        f"{lock.name}: only in the lock {direct - wanted}, only in pyproject {wanted - direct}. {HINT}"
    )


def test_dev_lock_pins_every_runtime_package_at_the_runtime_version() -> None:
    """The image (runtime.txt) and the tests (dev.txt) run the same versions of everything they share."""
    runtime, _ = _lock(RUNTIME_LOCK)
    dev, _ = _lock(DEV_LOCK)
    differ = {name: (runtime[name], dev.get(name)) for name in runtime if dev.get(name) != runtime[name]}
    assert not differ, f"runtime vs dev lock: {differ}. {HINT}"


def test_every_locked_package_carries_hashes() -> None:
    """pip's --require-hashes in the image and uv's in `make install` refuse a pin without one."""
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text())
        unhashed = [b.split("==")[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
        assert not unhashed, f"{lock.name}: no hashes for {unhashed}. {HINT}"
