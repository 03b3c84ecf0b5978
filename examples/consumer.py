"""Follow one speaker's quotes on the Wirepipe quotes topic, honouring retractions; or watch the enriched
topic for numbers that updates change.

    python examples/consumer.py --bootstrap localhost:9092 --speaker "PERSON:joe-biden" --from-beginning
    python examples/consumer.py --bootstrap localhost:9092 --numbers

A self-contained downstream consumer: it needs kafka-python only, not the pipeline. The rules it follows
are the ones in docs/consumers.md:

- the quotes topic is keyed by the canonical speaker (``speaker_key``), so one speaker's quotes arrive
  in order on one partition;
- a quote is identified by ``(article_id, index)``; a later ``article_version`` replaces an earlier one;
- a record with ``retracted: true`` (and no quote) removes what was shown for that identity, for
  versions up to its own;
- records older than what was already applied are ignored, so a replay from the beginning converges
  to the same state;
- a record's ``status`` says what became of the quote: a retraction is news only when the quote is gone
  ("retracted") or now someone else's ("reattributed"); a quote that only moved to another index
  ("unchanged") is kept quietly;
- an ``update`` on the enriched topic carries ``changes``: its ``numbers`` ("killed 12 -> 15") and
  ``correction`` are what ``number_alerts`` reports;
- unknown fields are ignored (within v1 only optional fields are added).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

DEFAULT_TOPIC = "wirepipe.quotes.v1"
DEFAULT_ENRICHED_TOPIC = "wirepipe.enriched.v1"

QuoteId = tuple[str, int]


@dataclass(frozen=True)
class ShownQuote:
    """A quote currently attributed to the followed speaker."""

    article_id: str
    index: int
    version: int
    text: str
    headline: str | None = None


@dataclass(frozen=True)
class Change:
    """What one record did to the followed speaker's quotes."""

    kind: Literal["new", "updated", "retracted", "reattributed"]
    quote: ShownQuote


@dataclass(frozen=True)
class Followed:
    """State of the follower: what is shown, and the newest version seen per quote (retracted or not)."""

    shown: Mapping[QuoteId, ShownQuote]
    seen_version: Mapping[QuoteId, int]


EMPTY = Followed(shown={}, seen_version={})


def normalise_speaker(name: str) -> str:
    """Compare speakers loosely: case, spacing and punctuation do not matter ("Joe Biden" = "joe-biden")."""
    return re.sub(r"[^0-9a-z]+", "-", name.casefold()).strip("-")


def speaker_matches(speaker_key: str, wanted: str) -> bool:
    """True when a record's ``speaker_key`` names the wanted speaker, with or without a ``LABEL:`` prefix."""
    want = normalise_speaker(wanted)
    key = normalise_speaker(speaker_key)
    bare = normalise_speaker(speaker_key.split(":", 1)[1]) if ":" in speaker_key else key
    return want in {key, bare}


def apply(state: Followed, record: Mapping[str, Any], speaker: str) -> tuple[Followed, Change | None]:
    """Apply one decoded quote record to the follower's state. Pure: no I/O, inputs are not modified."""
    if not speaker_matches(str(record.get("speaker_key", "")), speaker):
        return state, None
    qid: QuoteId = (str(record["article_id"]), int(record["index"]))
    version = int(record["article_version"])
    if version < state.seen_version.get(qid, -1):
        return state, None  # older than what we applied: a redelivery or a replay
    seen = {**state.seen_version, qid: version}
    previous = state.shown.get(qid)

    status = record.get("status")  # absent on records published before the field existed
    if record.get("retracted"):
        if previous is None:
            return Followed(state.shown, seen), None
        shown = {k: v for k, v in state.shown.items() if k != qid}
        if status == "unchanged":  # the same quote, republished at another index: no news
            return Followed(shown, seen), None
        return Followed(shown, seen), Change(
            "reattributed" if status == "reattributed" else "retracted", previous
        )

    quote = record.get("quote") or {}
    current = ShownQuote(
        article_id=qid[0],
        index=qid[1],
        version=version,
        text=str(quote.get("text", "")),
        headline=record.get("headline"),
    )
    if previous == current:
        return Followed(state.shown, seen), None
    shown = {**state.shown, qid: current}
    if status == "unchanged" and (previous is None or previous.text == current.text):
        return Followed(shown, seen), None  # the same quote again (a new version, or a new index): no news
    return Followed(shown, seen), Change("new" if previous is None else "updated", current)


def describe(change: Change) -> str:
    """One readable line for a change."""
    q = change.quote
    where = f"{q.article_id} v{q.version} #{q.index}"
    if change.kind == "retracted":
        return f"- RETRACTED  {where}: {q.text}"
    if change.kind == "reattributed":
        return f"- NOW ATTRIBUTED TO SOMEONE ELSE  {where}: {q.text}"
    mark = "+ QUOTE    " if change.kind == "new" else "~ UPDATED  "
    return f"{mark} {where}: “{q.text}”" + (f"  ({q.headline})" if q.headline else "")


def number_alerts(record: Mapping[str, Any]) -> list[str]:
    """What an enriched-topic record changed that a desk watching figures wants to hear about: each number an
    update changed ("killed 12 -> 15 people") and a correction. Pure; nothing for other outcomes."""
    changes = record.get("changes") or {}
    if record.get("outcome") != "update" or not changes:
        return []
    where = f"{record.get('id')} v{changes.get('previous_version')}->v{record.get('version')}"
    alerts = []
    if changes.get("correction"):
        alerts.append(f"! CORRECTION {where}: {'; '.join(changes['correction'])}")
    for number in changes.get("numbers") or []:
        said = " ".join(
            x
            for x in (number.get("before"), number.get("old"), "->", number.get("new"), number.get("after"))
            if x
        )
        alerts.append(f"# NUMBER     {where}: {said}  ({(record.get('headline') or '')[:60]})")
    return alerts


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap", default="localhost:9092", help="comma-separated host:port list")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--speaker", help="follow a speaker's quotes (key or name, e.g. PERSON:joe-biden)")
    what.add_argument("--numbers", action="store_true", help="watch updates for changed numbers, corrections")
    parser.add_argument("--topic", default=None, help="default: the quotes topic, or the enriched one")
    parser.add_argument("--from-beginning", action="store_true", help="replay the whole topic first")
    parser.add_argument("--group", default=None, help="consumer group (default: none, nothing committed)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Consume until interrupted, printing a speaker's quotes and retractions, or changed numbers."""
    from kafka import KafkaConsumer  # noqa: PLC0415 - the pure functions above need no client

    args = _parse(argv)
    topic = args.topic or (DEFAULT_ENRICHED_TOPIC if args.numbers else DEFAULT_TOPIC)
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=args.bootstrap.split(","),
        group_id=args.group,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=args.group is not None,
    )
    state = EMPTY
    try:
        for message in consumer:
            if message.value is None:
                continue  # a tombstone: the story was withdrawn
            try:
                record = json.loads(message.value)
            except ValueError:
                print(f"! skipped undecodable record at offset {message.offset}", file=sys.stderr)
                continue
            if args.numbers:
                for alert in number_alerts(record):
                    print(alert, flush=True)
                continue
            state, change = apply(state, record, args.speaker)
            if change is not None:
                print(describe(change), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    if not args.numbers:
        print(f"{len(state.shown)} quote(s) currently attributed to {args.speaker}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
