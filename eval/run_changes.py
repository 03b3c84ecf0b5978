"""How well ``changes`` tells what changed between two versions of a story, on hand-labelled version pairs.

The pairs (``tests/data/versions/``) are real refiles of the same wire story from ``$EVAL_DIR/corpus`` (a
later take that adds, cuts, corrects or rewords) and a few realistic edits of real stories (a quote removed or
re-attributed, a correction with its note); their texts are read from ``$EVAL_DIR`` here, never copied into
the project. Each pair goes through ``wirepipe enrich``'s path (``OfflinePipeline`` with the real model) as
version 1 and version 2 of one uri, and the ``changes`` of version 2 are compared with the labels:

- found: a labelled change that ``changes`` reports; missed: one it does not report;
- invented: a change ``changes`` reports that no label has.

A change matches a label of its category: text labels by a snippet the reported paragraph or quote contains
(case, spacing and quote marks ignored), numbers by their old and new value, entities by a name the
reported name contains (or is contained in). Quote labels are direct and partly quoted words; reported
speech without quote marks is counted apart (``reported_speech``), not scored. Also measured: the edit
threshold (how the paragraph categories fare at other thresholds, no NLP needed), the CPU of ``track``
(changes + snapshot) per update against the NLP's per article on the corpus, and the snapshot's size.

    python eval/run_changes.py            # prints the tables, writes eval/results/changes.json
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval._common import EVAL_DIR, REPO, RESULTS, read_jsonl
from pipeline.enricher import Enricher
from pipeline.offline import OfflinePipeline
from pipeline.settings import get_settings
from pipeline.stages.changes import StorySnapshot, diff_paragraphs, snapshot_of, track
from pipeline.stages.changes.snapshot import paragraph_texts, quote_key
from pipeline.stages.changes.text import similarity, tokens
from schemas.records import Changes, EnrichedArticle

VERSIONS = REPO / "tests" / "data" / "versions"
CATEGORIES = (
    "headline",
    "paragraph_added",
    "paragraph_removed",
    "paragraph_edited",
    "number",
    "quote_added",
    "quote_removed",
    "quote_reattributed",
    "entity_added",
    "entity_removed",
    "correction",
)
PARAGRAPH_CATEGORIES = ("paragraph_added", "paragraph_removed", "paragraph_edited")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
TIMED_ARTICLES = 200
_FOLD = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})


def _norm(text: str) -> str:
    return " ".join(text.translate(_FOLD).casefold().split())


# --- the pairs ---------------------------------------------------------------------------------------------


def _corpus() -> dict[str, dict[str, Any]]:
    return {a["uri"]: a for a in read_jsonl(EVAL_DIR / "corpus" / "articles.jsonl")}


def _body_field(raw: dict[str, Any]) -> str:
    return "body_text" if raw.get("body_text") else "body_html"


def _apply(raw: dict[str, Any], edits: Sequence[Sequence[str]]) -> dict[str, Any]:
    out = dict(raw)
    field = _body_field(out)
    for old, new in edits:
        if out[field].count(old) != 1:
            raise ValueError(f"{raw['uri']}: {old[:60]!r} is not in the text exactly once")
        out[field] = out[field].replace(old, new)
    return out


def version_pairs() -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(pair, version 1, version 2) raw records, from the labelled refiles and the scripted edits."""
    corpus = _corpus()
    out = []
    for pair in read_jsonl(VERSIONS / "pairs.jsonl"):
        old, new = corpus[pair["old"]], corpus[pair["new"]]
        uri = f"versions:{pair['id']}"
        out.append((pair, {**old, "uri": uri, "version": 1}, {**new, "uri": uri, "version": 2}))
    for edit in read_jsonl(VERSIONS / "edits.jsonl"):
        story = corpus[edit["story"]]
        uri = f"versions:{edit['id']}"
        v1 = {**_apply(story, edit["old"]), "uri": uri, "version": 1}
        v2 = {**_apply(story, edit["new"]), "uri": uri, "version": 2}
        if "new_headline" in edit:
            v2["headline"] = edit["new_headline"]
        if "new_ednote" in edit:
            v2["ednote"] = edit["new_ednote"]
        out.append(({**edit, "group": "edit"}, v1, v2))
    return out


# --- what changes reports, per category --------------------------------------------------------------------


def reported(changes: Changes, v1: EnrichedArticle, v2: EnrichedArticle) -> tuple[dict[str, list[Any]], int]:
    """The reported changes by category (texts, number pairs or names), and how many quote changes were
    reported speech (not scored)."""
    old_paras, new_paras = paragraph_texts(v1), paragraph_texts(v2)
    quoted = ("direct", "mixed")
    out: dict[str, list[Any]] = {c: [] for c in CATEGORIES}
    out["headline"] = [changes.headline.new or ""] if changes.headline else []
    out["paragraph_added"] = [p.text for p in changes.paragraphs_added]
    out["paragraph_removed"] = [p.text for p in changes.paragraphs_removed]
    out["paragraph_edited"] = [
        " ".join(old_paras[e.old_index : e.old_index + e.old_count])
        + " || "
        + " ".join(new_paras[e.new_index : e.new_index + e.new_count])
        for e in changes.paragraphs_edited
    ]
    out["number"] = [(n.old, n.new) for n in changes.numbers]
    out["quote_added"] = [q.text for q in changes.quotes_added if v2.quotes[q.index].kind in quoted]
    out["quote_removed"] = [q.text for q in changes.quotes_removed if v1.quotes[q.index].kind in quoted]
    out["quote_reattributed"] = [
        q.text for q in changes.quotes_reattributed if v2.quotes[q.new_index].kind in quoted
    ]
    out["entity_added"] = [e.name for e in changes.entities_added]
    out["entity_removed"] = [e.name for e in changes.entities_removed]
    out["correction"] = ["; ".join(changes.correction)] if changes.correction else []
    reported_speech = (
        len(changes.quotes_added)
        + len(changes.quotes_removed)
        + len(changes.quotes_reattributed)
        - len(out["quote_added"])
        - len(out["quote_removed"])
        - len(out["quote_reattributed"])
    )
    return out, reported_speech


def _matches(kind: str, label: dict[str, Any], item: Any) -> bool:
    if kind in ("headline", "correction"):
        return True
    if kind == "number":
        return (_norm(label["old"]), _norm(label["new"])) == (_norm(item[0]), _norm(item[1]))
    if kind.startswith("entity"):
        a, b = _norm(label["name"]), _norm(item)
        return a in b or b in a
    return _norm(label["text"]) in _norm(item)


def score_pair(labels: list[dict[str, Any]], found: dict[str, list[Any]]) -> dict[str, Counter[str]]:
    """found / missed / invented per category: labels and reported items matched one to one."""
    out: dict[str, Counter[str]] = {c: Counter() for c in CATEGORIES}
    for kind in CATEGORIES:
        items = list(found[kind])
        for label in (x for x in labels if x["kind"] == kind):
            hit = next((n for n, item in enumerate(items) if _matches(kind, label, item)), None)
            if hit is None:
                out[kind]["missed"] += 1
            else:
                out[kind]["found"] += 1
                items.pop(hit)
        out[kind]["invented"] += len(items)
    return out


def _paragraph_sweep(pairs: list[tuple[dict[str, Any], EnrichedArticle, EnrichedArticle]]) -> dict[str, Any]:
    """The paragraph categories at other edit thresholds (the text diff alone: no NLP)."""
    sweep = {}
    for threshold in THRESHOLDS:
        total: dict[str, Counter[str]] = {c: Counter() for c in PARAGRAPH_CATEGORIES}
        for pair, v1, v2 in pairs:
            diff = diff_paragraphs(paragraph_texts(v1), paragraph_texts(v2), threshold=threshold)
            old_paras, new_paras = paragraph_texts(v1), paragraph_texts(v2)
            found: dict[str, list[Any]] = {c: [] for c in CATEGORIES}
            found["paragraph_added"] = [p.text for p in diff.added]
            found["paragraph_removed"] = [p.text for p in diff.removed]
            found["paragraph_edited"] = [
                " ".join(old_paras[e.old_index : e.old_index + e.old_count])
                + " || "
                + " ".join(new_paras[e.new_index : e.new_index + e.new_count])
                for e in diff.edited
            ]
            scored = score_pair([x for x in pair["labels"] if x["kind"] in PARAGRAPH_CATEGORIES], found)
            for c in PARAGRAPH_CATEGORIES:
                total[c].update(scored[c])
        sweep[str(threshold)] = {c: dict(total[c]) for c in PARAGRAPH_CATEGORIES}
    return sweep


def _similarities(pairs: list[tuple[dict[str, Any], EnrichedArticle, EnrichedArticle]]) -> dict[str, Any]:
    """Word similarity of labelled edits, and of the most similar labelled removed/added paragraphs of a pair
    (what they would score as one edit): the threshold lies between the two."""
    edits, unrelated = [], []
    for pair, v1, v2 in pairs:
        if not v2.changes:
            continue
        for edit in v2.changes.paragraphs_edited:
            if any(x["kind"] == "paragraph_edited" for x in pair["labels"]):
                edits.append(edit.similarity)
        removed = [x["text"] for x in pair["labels"] if x["kind"] == "paragraph_removed"]
        added = [x["text"] for x in pair["labels"] if x["kind"] == "paragraph_added"]
        old = [p for p in paragraph_texts(v1) if any(_norm(s) in _norm(p) for s in removed)]
        new = [p for p in paragraph_texts(v2) if any(_norm(s) in _norm(p) for s in added)]
        for a in old:
            best = max(
                (similarity([t.key for t in tokens(a)], [t.key for t in tokens(b)]) for b in new),
                default=None,
            )
            if best is not None:
                unrelated.append(round(best, 3))
    return {"edits": sorted(edits), "removed_vs_added": sorted(unrelated)}


# --- CPU and size on the corpus ----------------------------------------------------------------------------

_NUMBER = re.compile(r"\b\d+\b")


def _realistic_update(raw: dict[str, Any]) -> dict[str, Any]:
    """An update of a real story as a desk writes one: the first number in the text changed, a paragraph
    added at the end, the version raised."""
    field = _body_field(raw)
    body = str(raw[field])
    body = _NUMBER.sub(lambda m: str(int(m.group()) + 1), body, count=1)
    extra = "Officials said more details would be released later in the day."
    body = body + (f"<p>{extra}</p>" if field == "body_html" else f"\n\n{extra}")
    return {**raw, field: body, "version": 2}


def _cpu(fn: Callable[[], Any]) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def measure_cost(enricher: Enricher) -> dict[str, Any]:
    """CPU ms of ``track`` per update against NLP ms per article, and snapshot sizes, on corpus articles."""
    corpus = list(_corpus().values())[:TIMED_ARTICLES]
    firsts = [{**a, "version": 1} for a in corpus]
    updates = [_realistic_update(a) for a in corpus]
    pipeline = OfflinePipeline(enricher=enricher, dedup=False)
    v1 = [r for r in pipeline.run(json.dumps(a).encode() for a in firsts) if isinstance(r, EnrichedArticle)]
    stories = dict(pipeline.stories)
    envelopes_cpu = time.process_time()
    v2 = [r for r in pipeline.run(json.dumps(a).encode() for a in updates) if isinstance(r, EnrichedArticle)]
    through_cpu = time.process_time() - envelopes_cpu
    published = [r for r in v2 if r.outcome == "update"]
    nlp_articles = [r for r in v1 if r.outcome in ("enriched", "update")]
    # NLP alone: the same clean articles through the enricher once more, timed on its own.
    from pipeline.envelope import Limits, Source  # noqa: PLC0415 - only this measurement needs them
    from pipeline.process import ingest  # noqa: PLC0415

    versions: dict[str, Any] = {}
    cleaned = []
    for a in firsts:
        step = ingest(Source(json.dumps(a).encode()), versions, Limits())
        if not isinstance(step, EnrichedArticle):
            cleaned.append(step.article)
    nlp_cpu = _cpu(lambda: enricher(cleaned))
    bare = [r.model_copy(update={"changes": None}) for r in published]
    previous = [stories.get(r.id) for r in bare]
    now = time.time()
    rounds = 5
    track_cpu = (
        _cpu(lambda: [track(p, r, now) for _ in range(rounds) for p, r in zip(previous, bare, strict=True)])
        / rounds
    )
    sizes = sorted(
        len(json.dumps(snapshot_of(r, [quote_key(q, r.id) for q in r.quotes], now).to_state()).encode())
        for r in nlp_articles
    )
    body_sizes = sorted(len(r.body.encode()) for r in nlp_articles)
    # a worker reads the story's snapshot from its table before the batch and writes the new one after
    kept = [s for s in (stories.get(r.id) for r in bare) if s is not None]

    def round_trips() -> None:
        for _ in range(rounds):
            for snapshot in kept:
                StorySnapshot.from_state(json.loads(json.dumps(snapshot.to_state())))

    table_cpu = _cpu(round_trips) / rounds
    per_update = 1000 * track_cpu / max(1, len(bare))
    per_article = 1000 * nlp_cpu / max(1, len(cleaned))
    return {
        "articles": len(cleaned),
        "updates": len(bare),
        "track_cpu_ms_per_update": round(per_update, 3),
        "nlp_cpu_ms_per_article": round(per_article, 2),
        "track_share_of_nlp": round(per_update / per_article, 4) if per_article else None,
        "table_round_trip_cpu_ms_per_update": round(1000 * table_cpu / max(1, len(kept)), 4),
        "update_pass_cpu_s": round(through_cpu, 2),
        "snapshot_bytes": {
            "median": int(statistics.median(sizes)),
            "mean": int(statistics.mean(sizes)),
            "p95": sizes[int(0.95 * (len(sizes) - 1))],
            "max": sizes[-1],
        },
        "body_bytes_median": int(statistics.median(body_sizes)),
    }


# --- main --------------------------------------------------------------------------------------------------


def _table(title: str, totals: dict[str, Counter[str]]) -> list[str]:
    lines = [title, f"  {'category':<20}{'labels':>7}{'found':>7}{'missed':>7}{'invented':>9}"]
    for c in CATEGORIES:
        t = totals[c]
        lines.append(
            f"  {c:<20}{t['found'] + t['missed']:>7}{t['found']:>7}{t['missed']:>7}{t['invented']:>9}"
        )
    found = sum(t["found"] for t in totals.values())
    missed = sum(t["missed"] for t in totals.values())
    invented = sum(t["invented"] for t in totals.values())
    lines.append(f"  {'all':<20}{found + missed:>7}{found:>7}{missed:>7}{invented:>9}")
    return lines


def _totals(rows: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    totals: dict[str, Counter[str]] = {c: Counter() for c in CATEGORIES}
    for row in rows:
        for c in CATEGORIES:
            totals[c].update(row["score"][c])
    return totals


def main() -> int:
    settings = get_settings()
    enricher = Enricher(settings.spacy_model, batch_size=settings.batch_size)
    rows = []
    checked = []
    for pair, v1_raw, v2_raw in version_pairs():
        pipeline = OfflinePipeline(enricher=enricher)
        out = list(pipeline.run([json.dumps(v1_raw).encode(), json.dumps(v2_raw).encode()]))
        v1, v2 = out
        if not isinstance(v1, EnrichedArticle) or not isinstance(v2, EnrichedArticle) or v2.changes is None:
            print(f"{pair['id']}: no changes ({getattr(v2, 'outcome', v2)})", file=sys.stderr)
            return 1
        found, reported_speech = reported(v2.changes, v1, v2)
        scored = score_pair(pair["labels"], found)
        checked.append((pair, v1, v2))
        rows.append(
            {
                "id": pair["id"],
                "group": pair.get("group", "refile"),
                "say": pair["say"],
                "summary": v2.changes.summary,
                "reported_speech": reported_speech,
                "score": {c: dict(scored[c]) for c in CATEGORIES},
            }
        )
    lines = []
    for row in rows:
        misses = {c: s for c, s in row["score"].items() if s.get("missed") or s.get("invented")}
        flag = (
            ""
            if not misses
            else "  "
            + ", ".join(
                f"{c}: {s.get('missed', 0)} missed {s.get('invented', 0)} invented" for c, s in misses.items()
            )
        )
        lines.append(f"{row['id']:<34}{row['summary']}{flag}")
    all_totals = _totals(rows)
    refiles = _totals([r for r in rows if r["group"] == "refile"])
    edits = _totals([r for r in rows if r["group"] == "edit"])
    lines += ["", *_table(f"real refiles ({sum(r['group'] == 'refile' for r in rows)} pairs)", refiles)]
    lines += _table(
        f"scripted edits of real stories ({sum(r['group'] == 'edit' for r in rows)} pairs)", edits
    )
    lines += _table(f"all ({len(rows)} pairs)", all_totals)
    sweep = _paragraph_sweep(checked)
    lines.append("paragraph categories by edit threshold (found/invented):")
    for threshold, cats in sweep.items():
        cells = "  ".join(f"{c} {v.get('found', 0)}/{v.get('invented', 0)}" for c, v in cats.items())
        lines.append(f"  {threshold}: {cells}")
    sims = _similarities(checked)
    lines.append(f"similarity of labelled edits: {sims['edits']}")
    lines.append(f"similarity of labelled removed vs added paragraphs: {sims['removed_vs_added']}")
    cost = measure_cost(enricher)
    lines.append(
        f"cost: track {cost['track_cpu_ms_per_update']} ms CPU per update vs NLP "
        f"{cost['nlp_cpu_ms_per_article']} ms per article ({100 * (cost['track_share_of_nlp'] or 0):.1f}%); "
        f"snapshot {cost['snapshot_bytes']['median']} bytes median, p95 {cost['snapshot_bytes']['p95']} "
        f"(body median {cost['body_bytes_median']})"
    )
    print("\n".join(lines))
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "pairs": rows,
        "totals": {
            "refile": {c: dict(v) for c, v in refiles.items()},
            "edit": {c: dict(v) for c, v in edits.items()},
            "all": {c: dict(v) for c, v in all_totals.items()},
        },
        "threshold_sweep": sweep,
        "similarities": sims,
        "cost": cost,
    }
    (RESULTS / "changes.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS / 'changes.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
