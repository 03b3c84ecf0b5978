"""The seed story's page (`wirepipe enrich`, `wirepipe show`) as headless Chromium renders it: entity boxes
and quote marks counted on a screenshot of the body, and the marks found in the DOM Chromium parsed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from PIL import Image

from pipeline.show import render_page
from pipeline.show.style import BODY_RULE, QUOTE_BACKGROUND, label_colour
from schemas.records import EnrichedArticle
from tests.html_tree import Element, parse

SEED = Path(__file__).parents[1] / "data" / "scraped_story.ninjs.json"
WIREPIPE = Path(sys.executable).with_name("wirepipe")
HIGHLIGHTS = {
    "PERSON": label_colour("PERSON"),
    "GPE": label_colour("GPE"),
    "ORG": label_colour("ORG"),
    "quote": QUOTE_BACKGROUND,
}
MIN_PIXELS = 2_000  # less than one small entity box ("ISIS ORG" is about 85 x 34 px)


def _chromium_binary() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail(
            "Chromium is not installed: run `make browser` (Debian's chromium package), then the tests"
        )
    return binary


def _chromium(*args: str, profile: Path) -> str:
    """Run headless Chromium (isolated profile, no network chatter); its stdout."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-color-profile=srgb",
        f"--user-data-dir={profile}",
    ]
    done = subprocess.run(
        [_chromium_binary(), *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EnrichedArticle]:
    """The seed story through `wirepipe enrich` and `wirepipe show FILE -o page.html`: page and record."""
    _chromium_binary()  # fail before the seconds spent enriching
    work = tmp_path_factory.mktemp("show")
    raw, enriched, page = work / "raw.jsonl", work / "enriched.jsonl", work / "page.html"
    raw.write_bytes(orjson.dumps(orjson.loads(SEED.read_bytes())) + b"\n")
    with raw.open("rb") as stdin, enriched.open("wb") as stdout:
        subprocess.run([WIREPIPE, "enrich"], stdin=stdin, stdout=stdout, check=True, timeout=600)
    subprocess.run([WIREPIPE, "show", str(enriched), "-o", str(page)], check=True, timeout=120)
    return page, EnrichedArticle.model_validate_json(enriched.read_bytes().splitlines()[0])


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _body_highlight_pixels(page: Path, work: Path) -> dict[str, int]:
    """Pixels of each highlight colour in the body (the rows its left rule spans) of a 1200 px screenshot."""
    png = work / f"{page.stem}.png"
    _chromium("--window-size=1200,3000", f"--screenshot={png}", page.as_uri(), profile=work / "profile")
    pixels = np.asarray(Image.open(png).convert("RGB"))
    rule_rows = np.flatnonzero((pixels == _rgb(BODY_RULE)).all(axis=-1).sum(axis=1) >= 3)
    assert rule_rows.size > 0, "the body's left rule is not on the screenshot"
    body = pixels[rule_rows[0] : rule_rows[-1] + 1]
    return {name: int((body == _rgb(colour)).all(axis=-1).sum()) for name, colour in HIGHLIGHTS.items()}


def test_the_seed_storys_screenshot_shows_person_gpe_and_org_boxes_and_quote_marks(
    seed: tuple[Path, EnrichedArticle], tmp_path: Path
) -> None:
    page, _ = seed

    counts = _body_highlight_pixels(page, tmp_path)

    assert all(n >= MIN_PIXELS for n in counts.values()), counts


def test_the_same_body_without_entities_and_quotes_has_none_of_the_highlight_colours(
    seed: tuple[Path, EnrichedArticle], tmp_path: Path
) -> None:
    """The control for the test above: the colours counted there come from the marks and nothing else."""
    _, record = seed
    plain = tmp_path / "plain.html"
    plain.write_text(render_page(record.model_copy(update={"entities": [], "quotes": []})), encoding="utf-8")

    assert _body_highlight_pixels(plain, tmp_path) == dict.fromkeys(HIGHLIGHTS, 0)


def _marks(root: Element, css_class: str) -> list[Element]:
    return root.find_all("mark", css_class)


def test_chromium_parses_the_marks_of_known_entities_and_quotes_nested_and_the_body_whole(
    seed: tuple[Path, EnrichedArticle], tmp_path: Path
) -> None:
    page, record = seed

    root, faults = parse(_chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile"))

    body = root.find("article", "body")
    assert faults == [] and body.text() == record.body
    entities = {(m.text(), m.attrs["data-entity-label"]) for m in _marks(body, "ent")}
    assert {("Iraq", "GPE"), ("Joe Biden", "PERSON"), ("ISIS", "ORG")} <= entities
    assert ("Iraq", "GPE") in {
        (m.text(), m.attrs["data-entity-label"]) for m in _marks(root.find("h1"), "ent")
    }
    biden = [m for m in _marks(body, "quote") if m.attrs["data-speaker"] == "Joe Biden"]
    assert any(
        m.text().startswith("Have no doubt") and m.attrs["data-label"] == "QUOTE — Joe Biden" for m in biden
    )
    assert any(_marks(quote, "ent") for quote in _marks(body, "quote")), "no entity nested in a quote"
