"""`make bench SMOKE=1` on the session broker: every phase writes sane figures, so the bench cannot rot.
About 3 minutes on 2 shared cores (a broker of its own is not needed: the session's). It checks the bench,
not the pipeline, so `make bench-smoke` runs it (a step of its own in .ci/run), not `make test`.

The smoke run reads the project's own sample articles (tests/data), not the shared eval corpus, so it runs
on any clone; `make bench` itself measures on the corpus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
# Every sample that the pipeline enriches (guid_picture.json has no text body, v3.json is a cancelled story).
SAMPLES = ["scraped_story.ninjs.json", "ninjs/v1_html.json", "ninjs/v1_text.json", "ninjs/v2.json"]


def _sample_corpus(folder: Path) -> Path:
    """The samples as one JSON-lines file, the format of the eval corpus."""
    path = folder / "samples.jsonl"
    path.write_text("".join(json.dumps(json.loads((DATA / name).read_text())) + "\n" for name in SAMPLES))
    return path


@pytest.fixture(scope="module")
def smoke(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    bench = [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(out)]
    done = subprocess.run(
        [*bench, "--corpus", str(_sample_corpus(out))],
        env={**os.environ, "WIREPIPE_KAFKA_BOOTSTRAP": kafka_bootstrap},
        cwd=ROOT,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-4000:]
    return out, json.loads((out / "latest.json").read_text())


def test_the_smoke_bench_writes_json_markdown_and_a_chart(smoke: tuple[Path, dict[str, Any]]) -> None:
    out, _ = smoke
    assert (out / "latest.md").read_text().startswith("# Wirepipe bench")
    assert (out / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_throughput_phase_has_positive_words_per_second(smoke: tuple[Path, dict[str, Any]]) -> None:
    _, results = smoke
    for phase in ("baseline", "offline", "one_worker", "two_workers"):
        assert results[phase]["words_per_s"] > 0, results[phase]
    for phase in ("one_worker", "two_workers"):
        assert results[phase]["outcomes_received"] == results[phase]["articles"]
    assert results["ratios"]["one_worker_vs_baseline"] > 0


def test_the_duplicate_phase_sees_one_duplicate_per_copy(smoke: tuple[Path, dict[str, Any]]) -> None:
    _, results = smoke
    dup = results["duplicates"]
    assert (
        dup["outcomes"].get("duplicate", 0)
        >= results["corpus"]["articles"] - results["corpus"]["failed_clean"]
    )
    assert 0 < dup["duplicate_cost_vs_unique_timings"] < 1


def test_latency_percentiles_are_ordered_and_positive(smoke: tuple[Path, dict[str, Any]]) -> None:
    _, results = smoke
    lat = results["latency"]
    assert lat["matched"] > 0
    assert 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"] <= lat["max_ms"]


def test_the_cpu_split_per_article_covers_spacy_the_stream_and_the_broker(
    smoke: tuple[Path, dict[str, Any]],
) -> None:
    """The worker's parts come from its own clocks and the profile phase splits them by py-spy samples."""
    _, results = smoke
    split = results["cpu_per_article"]
    parts = split["worker_parts_ms_per_article"]
    assert parts["nlp_process"] > 0 and parts["loop"] > 0
    assert set(split["ms_per_article"]) >= {"spacy", "stages", "consumer", "producer", "broker"}
    assert split["ms_per_article"]["spacy"] > split["ms_per_article"]["producer"]
    assert results["profile"]["shares"]["nlp_process"]["spacy"] > 0.5


def test_the_per_core_ratio_times_the_cores_used_gives_the_wall_ratio(
    smoke: tuple[Path, dict[str, Any]],
) -> None:
    """The report separates what a worker does per CPU second from what a second core adds."""
    _, results = smoke
    c = results["per_core"]
    assert c["one_worker_cpu_ms_per_article"] > 0 and c["one_worker_cores_used"] > 0
    wall = results["ratios"]["one_worker_vs_baseline"]
    product = c["one_worker_vs_baseline_per_core"] * c["one_worker_from_overlap"]
    assert abs(product - wall) < 0.01 * wall + 0.002
    # The broker's CPU charged to the worker lowers the ratio; a broker the bench cannot see (in a
    # container, testcontainers) has none to charge.
    if c["one_worker_broker_cpu_ms_per_article"] >= 0.5:
        assert c["one_worker_vs_baseline_per_core_with_broker"] < c["one_worker_vs_baseline_per_core"]
    else:
        assert c["one_worker_vs_baseline_per_core_with_broker"] <= c["one_worker_vs_baseline_per_core"]


def test_the_dedup_ceiling_phase_measures_a_rate_and_the_loop_cpu_per_envelope(
    smoke: tuple[Path, dict[str, Any]],
) -> None:
    _, results = smoke
    ceiling = results["dedup_ceiling"]
    assert sum(ceiling["verdicts"].values()) == ceiling["envelopes"]
    assert ceiling["articles_per_second"] > 0 and ceiling["loop_cpu_ms_per_envelope"] > 0
    assert ceiling["workers_it_keeps_up_with"] > 0


def test_memory_and_machine_are_recorded(smoke: tuple[Path, dict[str, Any]]) -> None:
    _, results = smoke
    assert results["memory_mib"]["worker_peak_rss_max"] > 50
    assert results["machine"]["nproc"] >= 1
    assert len(results["load_avg_start"]) == 3
