"""Shared pieces of the fault tests: article streams with known expected outcome keys, a producer for
large messages, an incremental topic reader, the exactly-one-outcome check and an RSS sampler."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.workers import Deployment, Worker

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "eval" / "corpus" / "articles.jsonl"
MAX_REQUEST = 16_777_216  # the project's topic_max_message_bytes default
IGNORED = ("processed_at", "timings_ms", "failed_at")


def env_int(name: str, default: int) -> int:
    """A size knob from the environment (documented in tests/faults/README.md)."""
    return int(os.environ.get(name, default))


def corpus() -> list[dict[str, Any]]:
    """The shared corpus of good ninjs articles; skips the test when it is not there."""
    if not CORPUS.exists():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    return [json.loads(line) for line in CORPUS.read_bytes().splitlines() if line.strip()]


@dataclass(frozen=True)
class Input:
    """One produced message and the key its outcome must appear under on the enriched topic."""

    value: bytes
    uri: str
    version: int
    out_key: str  # uri, or "<uri>@stale-v<N>" for a late lower version
    kind: str  # what the generator meant: new, update, withdraw, stale
    partition: int = -1
    offset: int = -1


def _html(article: dict[str, Any]) -> bool:
    return bool(article.get("body_html"))


def _body(article: dict[str, Any]) -> str:
    return str(article.get("body_html") or article.get("body_text") or "")


def _partners(base: list[dict[str, Any]], width: int = 40) -> dict[str, list[dict[str, Any]]]:
    """For each corpus uri, articles to join it with: the same body kind (html or text), distinct bodies,
    and the next longer ones. A body joined with a much shorter one stays a near-duplicate of itself (word
    shingle Jaccard >= 0.8), and if b could be joined to a as well as a to b, the two would be copies."""
    out: dict[str, list[dict[str, Any]]] = {}
    for html in (True, False):
        bodies = {_body(a): a for a in base if _html(a) == html}  # one article per distinct body
        pool = sorted(bodies.values(), key=lambda a: (len(_body(a)), a["uri"]))
        rank = {_body(b): k for k, b in enumerate(pool)}
        for a in base:
            if _html(a) != html:
                continue
            k = rank[_body(a)]
            longer = pool[k + 1 : k + 1 + width]
            # the longest bodies have fewer longer ones: top up with shorter ones
            out[a["uri"]] = longer + pool[max(0, k - width + len(longer)) : k]
    return out


def _extended(article: dict[str, Any], other: dict[str, Any], note: str = "") -> dict[str, Any]:
    """``article`` with ``other``'s body appended to the field the pipeline reads: ``body_html`` wins over
    ``body_text``, so appending to ``body_text`` of an html article would change nothing it processes."""
    if _html(article):
        lead = f"<p>{note}</p>\n" if note else ""
        return {**article, "body_html": f"{article['body_html']}\n{lead}{other['body_html']}"}
    lead = f"{note}\n\n" if note else ""
    return {**article, "body_text": f"{article['body_text']}\n\n{lead}{other['body_text']}"}


def article_stream(n: int, *, specials: bool = True) -> list[Input]:
    """``n`` messages with distinct (key, version): corpus articles (version 1), then synthetic ones past
    the corpus (each corpus body joined with a different partner body in every round, in the field the
    pipeline reads), and with ``specials`` about 4% each of updates (v2, a partner body appended),
    withdrawals (v3 canceled) and late stale re-sends of v1 after a v2. Measured offline at 10,000: 8,683 of
    the 8,800 new articles are unique; the rest are (near-)copies because the corpus holds some itself."""
    base = corpus()
    partners = _partners(base)
    n_special = n // 25 if specials else 0
    n_plain = n - 3 * n_special
    out: list[Input] = []
    for i in range(n_plain):
        a = base[i % len(base)]
        if i >= len(base):
            rnd = i // len(base)
            near = partners[a["uri"]]
            b = near[(i % len(base) + rnd - 1) % len(near)]  # a different partner in every round
            a = {**_extended(a, b), "uri": f"{a['uri']}#r{rnd}"}
        out.append(Input(json.dumps(a).encode(), a["uri"], int(a.get("version", 1)), a["uri"], "new"))
    firsts = out[: max(1, n_special)]
    for j, first in enumerate(firsts[:n_special]):
        a = json.loads(first.value)
        near = partners[a["uri"].split("#")[0]]
        v2 = {**_extended(a, near[(j * 11 + 5) % len(near)], note="Correction:"), "version": 2}
        out.append(Input(json.dumps(v2).encode(), a["uri"], 2, a["uri"], "update"))
    for first in firsts[:n_special]:
        out.append(Input(first.value, first.uri, 1, f"{first.uri}@stale-v1", "stale"))
    for first in firsts[:n_special]:
        a = json.loads(first.value)
        killed = {"uri": a["uri"], "version": 3, "pubstatus": "canceled", "headline": a.get("headline")}
        out.append(Input(json.dumps(killed).encode(), a["uri"], 3, a["uri"], "withdraw"))
    return out


def produce_inputs(bootstrap: str, topic: str, inputs: list[Input], **producer: Any) -> list[Input]:
    """Send every input keyed by its uri (value as is), acknowledged; returns them with partition/offset."""
    kafka = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=MAX_REQUEST, **producer
    )
    try:
        futures = [kafka.send(topic, key=i.uri.encode() if i.uri else None, value=i.value) for i in inputs]
        kafka.flush(timeout=120)
        metas = [f.get(timeout=120) for f in futures]
    finally:
        kafka.close(timeout=10)
    return [
        Input(i.value, i.uri, i.version, i.out_key, i.kind, m.partition, m.offset)
        for i, m in zip(inputs, metas, strict=True)
    ]


class TopicReader:
    """Reads a topic from the beginning without a consumer group, keeping everything read so far."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.records: list[tuple[bytes | None, bytes | None, int, int]] = []
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="wirepipe-fault-tests",
            max_partition_fetch_bytes=MAX_REQUEST,
            fetch_max_bytes=MAX_REQUEST * 4,
        )
        deadline = time.monotonic() + 60
        while not (ids := self._consumer.partitions_for_topic(topic)):
            if time.monotonic() > deadline:
                raise AssertionError(f"topic {topic} has no partitions")
            time.sleep(0.2)
        parts = [TopicPartition(topic, p) for p in sorted(ids)]
        self._consumer.assign(parts)
        self._consumer.seek_to_beginning(*parts)

    def poll(self, seconds: float = 1.0) -> int:
        """Read what arrives within ``seconds``; returns the total read so far."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for batch in self._consumer.poll(timeout_ms=200).values():
                self.records.extend((m.key, m.value, m.partition, m.offset) for m in batch)
        return len(self.records)

    def close(self) -> None:
        self._consumer.close()


def _stable(data: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in data.items() if k not in IGNORED}, sort_keys=True)


@dataclass
class Ledger:
    """Outcomes and dead letters read so far, attributed to the inputs that caused them."""

    raw_topic: str
    inputs: list[Input]
    outcomes: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))
    copies: Counter[tuple[str, int]] = field(default_factory=Counter)
    letters: dict[tuple[int, int], set[str]] = field(default_factory=lambda: defaultdict(set))
    letter_copies: Counter[tuple[int, int]] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    stray_letters: int = 0
    withdrawn_without_tombstone: set[str] = field(default_factory=set)

    def read(self, enriched: list[Any], letters: list[Any]) -> None:
        """Rebuild from everything read from the two topics (cheap next to the worker's NLP)."""
        for table in (self.outcomes, self.copies, self.letters, self.letter_copies, self.kinds, self.codes):
            table.clear()
        self.stray_letters = 0
        pending_tombstone: dict[tuple[int, bytes], str] = {}
        for key, value, partition, _ in enriched:
            if value is None:
                pending_tombstone.pop((partition, key or b""), None)
                continue
            data = json.loads(value)
            where = ((key or b"").decode(), int(data["version"]))
            if where not in self.outcomes:
                self.kinds[data["outcome"]] += 1
            self.outcomes[where].add(_stable(data))
            self.copies[where] += 1
            if data["outcome"] == "withdrawn":
                pending_tombstone[(partition, key or b"")] = data["id"]
        self.withdrawn_without_tombstone = set(pending_tombstone.values())
        for _, value, _, _ in letters:
            data = json.loads(value)
            if data.get("topic") != self.raw_topic or data.get("offset") is None:
                self.stray_letters += 1
                continue
            where2 = (int(data["partition"]), int(data["offset"]))
            if where2 not in self.letters:
                self.codes[data["error_code"]] += 1
            self.letters[where2].add(_stable(data))
            self.letter_copies[where2] += 1

    def results(self, i: Input) -> set[str]:
        found = self.outcomes.get((i.out_key, i.version), set())
        return found | self.letters.get((i.partition, i.offset), set())

    def missing(self) -> list[Input]:
        return [i for i in self.inputs if not self.results(i)]

    def conflicting(self) -> list[Input]:
        return [i for i in self.inputs if len(self.results(i)) > 1]

    def re_emitted(self) -> int:
        return sum(c - 1 for c in self.copies.values()) + sum(c - 1 for c in self.letter_copies.values())

    def summary(self) -> dict[str, Any]:
        return {
            "inputs": len(self.inputs),
            "outcomes": dict(self.kinds),
            "dead_letters": dict(self.codes),
            "re_emitted_copies": self.re_emitted(),
            "missing": len(self.missing()),
            "conflicting": len(self.conflicting()),
            "stray_letters": self.stray_letters,
        }


class Watch:
    """Readers on a deployment's enriched and dead-letter topics, and the ledger of its inputs."""

    def __init__(self, deployment: Deployment, bootstrap: str | None = None) -> None:
        where = bootstrap or deployment.bootstrap
        self.enriched = TopicReader(where, deployment.topics["enriched"])
        self.deadletter = TopicReader(where, deployment.topics["deadletter"])
        self.ledger = Ledger(deployment.topics["raw"], [])

    def count(self, seconds: float = 1.0) -> int:
        """Records on both topics so far (re-emits included)."""
        return self.enriched.poll(seconds / 2) + self.deadletter.poll(seconds / 2)

    def wait_until_count(self, n: int, timeout_s: float, workers: list[Worker] | None = None) -> int:
        deadline = time.monotonic() + timeout_s
        while (seen := self.count()) < n:
            for w in workers or []:
                assert w.process.poll() is None, f"worker died: {w.log_tail()}"
            if time.monotonic() > deadline:
                raise AssertionError(f"only {seen} of {n} records after {timeout_s:.0f} s")
        return seen

    def wait_all(self, inputs: list[Input], timeout_s: float, workers: list[Worker] | None = None) -> Ledger:
        """Read until every input has an outcome or dead letter (or time is up); returns the ledger."""
        self.ledger.inputs = inputs
        deadline = time.monotonic() + timeout_s
        while True:
            self.count(2.0)
            self.ledger.read(self.enriched.records, self.deadletter.records)
            if not self.ledger.missing():
                self.count(2.0)  # stragglers (re-emits, tombstones) that were already on their way
                self.ledger.read(self.enriched.records, self.deadletter.records)
                return self.ledger
            for w in workers or []:
                assert w.process.poll() is None, f"worker died: {w.log_tail()}"
            if time.monotonic() > deadline:
                return self.ledger

    def close(self) -> None:
        self.enriched.close()
        self.deadletter.close()


def assert_exactly_one_outcome_each(ledger: Ledger) -> None:
    """Every input has an outcome or a dead letter, never two different ones; withdrawals are tombstoned."""
    missing = ledger.missing()
    examples = [(m.out_key, m.version, m.kind) for m in missing[:3]]
    assert not missing, f"{len(missing)} inputs without outcome, e.g. {examples}"
    conflicting = ledger.conflicting()
    assert not conflicting, f"{len(conflicting)} inputs with different outcomes: " + "; ".join(
        describe_conflict(ledger, c) for c in conflicting[:3]
    )
    assert ledger.stray_letters == 0, "dead letters that no raw input explains"
    assert not ledger.withdrawn_without_tombstone, sorted(ledger.withdrawn_without_tombstone)[:3]


def describe_conflict(ledger: Ledger, i: Input) -> str:
    """Which fields differ between the outcomes of one input."""
    versions = [json.loads(text) for text in ledger.results(i)]
    keys = sorted({k for v in versions for k in v})
    differing = {
        k: [str(v.get(k))[:120] for v in versions] for k in keys if len({str(v.get(k)) for v in versions}) > 1
    }
    return f"{i.out_key} v{i.version} ({i.kind}): {differing}"


class RssSampler:
    """Samples the resident memory of a process (and its children) in a thread; keeps the peak."""

    def __init__(self, pid: int, interval_s: float = 0.5) -> None:
        self._proc = psutil.Process(pid)
        self._interval = interval_s
        self._stop = threading.Event()
        self.peak = 0
        self.samples: list[int] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                rss = self._proc.memory_info().rss
                rss += sum(c.memory_info().rss for c in self._proc.children(recursive=True))
            except psutil.Error:
                return
            self.samples.append(rss)
            self.peak = max(self.peak, rss)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak


def report(name: str, **figures: Any) -> None:
    """Print a figure line (shown with -s, and in the README's numbers) and keep it in a JSON-lines file."""
    line = json.dumps({"test": name, **figures}, default=str)
    print(f"\nFAULT-REPORT {line}")
    path = os.environ.get("WIREPIPE_FAULT_REPORT")
    if path:
        with open(path, "a") as handle:
            handle.write(line + "\n")


def log_events(worker: Worker) -> list[dict[str, Any]]:
    """The worker's JSON log lines (non-JSON lines skipped)."""
    events = []
    for line in worker.log_path.read_bytes().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


CONSUMER_TROUBLE = (
    "CommitFailedError",
    "Heartbeat failed",
    "heartbeat failed",
    "RebalanceInProgress",
    "session timeout",
    "max.poll.interval",
    "max_poll_interval",
    "Worker is not responding",
)


def consumer_trouble(worker: Worker) -> list[str]:
    """Log lines that show consumer-group trouble: failed commits or heartbeats, poll timeouts."""
    text = worker.log_path.read_bytes().decode(errors="replace")
    return [line[:300] for line in text.splitlines() if any(t in line for t in CONSUMER_TROUBLE)]


def consumer_events(*workers: Worker | None) -> dict[str, int]:
    """How often the workers logged the consumer's repairs (refused acks, re-reads, stalled partitions)."""
    counts: Counter[str] = Counter()
    for worker in filter(None, workers):
        for event in log_events(worker):
            name = str(event.get("event", ""))
            if name.startswith(("consumer.", "agent.")):
                counts[name] += 1
    return dict(counts)
