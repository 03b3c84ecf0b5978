"""Follow one speaker's quotes on the Wirepipe quotes topic, honouring retractions.

    python examples/consumer.py --bootstrap localhost:9092 --speaker "PERSON:joe-biden" --from-beginning

A self-contained downstream consumer: it needs kafka-python only, not the pipeline. The rules it follows
are the ones in docs/consumers.md:

- the quotes topic is keyed by the canonical speaker (``speaker_key``), so one speaker's quotes arrive
  in order on one partition;
- a quote is identified by ``(article_id, index)``; a later ``article_version`` replaces an earlier one;
- a record with ``retracted: true`` (and no quote) removes what was shown for that identity, for
  versions up to its own;
- records older than what was already applied are ignored, so a replay from the beginning converges
  to the same state;
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

    kind: Literal["new", "updated", "retracted"]
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

    if record.get("retracted"):
        if previous is None:
            return Followed(state.shown, seen), None
        shown = {k: v for k, v in state.shown.items() if k != qid}
        return Followed(shown, seen), Change("retracted", previous)

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
    return Followed(shown, seen), Change("new" if previous is None else "updated", current)


def describe(change: Change) -> str:
    """One readable line for a change."""
    q = change.quote
    where = f"{q.article_id} v{q.version} #{q.index}"
    if change.kind == "retracted":
        return f"- RETRACTED  {where}: {q.text}"
    mark = "+ QUOTE    " if change.kind == "new" else "~ UPDATED  "
    return f"{mark} {where}: “{q.text}”" + (f"  ({q.headline})" if q.headline else "")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap", default="localhost:9092", help="comma-separated host:port list")
    parser.add_argument("--speaker", required=True, help="speaker key or name, e.g. PERSON:joe-biden")
    parser.add_argument("--topic", default=DEFAULT_TOPIC)
    parser.add_argument("--from-beginning", action="store_true", help="replay the whole topic first")
    parser.add_argument("--group", default=None, help="consumer group (default: none, nothing committed)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Consume until interrupted, printing the followed speaker's quotes and retractions."""
    from kafka import KafkaConsumer  # noqa: PLC0415 - the pure functions above need no client

    args = _parse(argv)
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap.split(","),
        group_id=args.group,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=args.group is not None,
    )
    state = EMPTY
    try:
        for message in consumer:
            if message.value is None:
                continue
            try:
                record = json.loads(message.value)
            except ValueError:
                print(f"! skipped undecodable record at offset {message.offset}", file=sys.stderr)
                continue
            state, change = apply(state, record, args.speaker)
            if change is not None:
                print(describe(change), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    print(f"{len(state.shown)} quote(s) currently attributed to {args.speaker}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
