"""The worker image as built by `make compose-test` (deploy/Dockerfile): what runs in it and as whom.

Costs about 20 s (one `enrich` run in a container, the spaCy model loaded once).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.containers.stack import IMAGE, ROOT, engine, run

pytestmark = pytest.mark.containers

DEMO = ROOT / "examples" / "demo.jsonl"


def _config() -> dict[str, Any]:
    (image,) = json.loads(run([engine(), "image", "inspect", IMAGE]))
    config: dict[str, Any] = image["Config"]
    return config


def test_the_image_runs_as_a_non_root_numeric_user() -> None:
    user = _config()["User"].split(":")[0]
    assert user.isdigit() and int(user) != 0, user


def test_the_image_keeps_its_healthcheck_on_the_health_endpoint() -> None:
    """Podman drops HEALTHCHECK unless the image is built in Docker's format (`--format docker`)."""
    (image,) = json.loads(run([engine(), "image", "inspect", IMAGE]))
    check = image["Config"].get("Healthcheck") or image.get("Healthcheck") or {}  # docker / podman
    assert check.get("Test", [None])[0] == "CMD", check
    assert any("/health" in arg for arg in check["Test"]), check
    assert not any(" " in arg for arg in check["Test"]), "Podman's Docker API splits arguments at spaces"


def test_enrich_in_the_image_gives_the_same_outcomes_as_on_the_host() -> None:
    """`docker run --rm -i wirepipe:local enrich < seed`: every runtime dependency is in the image."""
    in_image = subprocess.run(
        [engine(), "run", "--rm", "-i", IMAGE, "enrich"],
        input=DEMO.read_bytes(),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert in_image.returncode == 0, in_image.stderr.decode()[-3000:]
    on_host = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "enrich"],
        input=DEMO.read_bytes(),
        capture_output=True,
        timeout=300,
        check=True,
        cwd=ROOT,
    )

    def outcomes(out: bytes) -> list[tuple[str, str]]:
        records = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [(r.get("outcome") or r.get("error_code"), r.get("id") or r.get("uri") or "") for r in records]

    got = outcomes(in_image.stdout)
    assert len(got) == len(DEMO.read_bytes().splitlines())
    assert got == outcomes(on_host.stdout)
