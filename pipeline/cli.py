"""The ``wirepipe`` command: worker, produce, enrich, tail, show, broker, topics, replay."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import orjson

from pipeline.logs import configure_logging, get_logger
from pipeline.memory import tune_malloc
from pipeline.settings import Settings, get_settings


def _lines(path: str) -> Iterator[bytes]:
    """Raw JSON lines from a file or stdin, as bytes (bad lines are the pipeline's business, not ours)."""
    stream: IO[bytes] = sys.stdin.buffer if path == "-" else Path(path).open("rb")  # noqa: SIM115
    try:
        for line in stream:
            value = line.rstrip(b"\r\n")
            if value.strip():
                yield value
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def article_key(value: bytes) -> bytes | None:
    """The Kafka key of a raw line: its ``uri`` (or ``guid``), or None when the line is not usable JSON."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, dict):
        uri = data.get("uri") or data.get("guid")
        if isinstance(uri, str) and uri:
            return uri.encode()
    return None


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    if settings.tune_malloc:
        tune_malloc()  # before anything allocates (the NLP process sets its own)
    import faust  # noqa: PLC0415

    from pipeline.stream.app import create_app  # noqa: PLC0415 - faust imports are slow; only the worker needs them
    from pipeline.stream.kafka_config import ensure_topics  # noqa: PLC0415
    from pipeline.stream.nlp_process import NlpConfig, NlpProcess  # noqa: PLC0415

    log = get_logger()
    nlp = NlpProcess(
        NlpConfig(
            model=settings.spacy_model,
            batch_size=settings.batch_size,
            selective=settings.selective_parse,
            blas=settings.blas,
            log_level=settings.log_level,
            log_format=settings.log_format,
            tune_malloc=settings.tune_malloc,
            quote_min_confidence=settings.quote_min_confidence,
        )
    )
    seconds = nlp.start()  # a bad model stops us here, before we join the group
    log.info("worker.model_loaded", model=settings.spacy_model, seconds=round(seconds, 2), nlp_pid=nlp.pid)
    try:
        created = ensure_topics(settings)
        log.info(
            "worker.starting",
            bootstrap=settings.kafka_bootstrap,
            created_topics=created,
            web_port=settings.web_port,
            model=settings.spacy_model,
        )
        app = create_app(settings, nlp)
        worker = faust.Worker(app, loglevel=settings.log_level, override_logging=False)
        worker.execute_from_commandline()
    finally:
        nlp.close()
    return 0


def cmd_produce(settings: Settings, args: argparse.Namespace) -> int:
    from kafka import KafkaProducer  # noqa: PLC0415
    from rich.progress import Progress  # noqa: PLC0415

    from pipeline.stream.kafka_config import ensure_topics, kafka_python_options, producer_options  # noqa: PLC0415

    log = get_logger()
    ensure_topics(settings)
    topic = args.topic or settings.topic_raw
    producer = KafkaProducer(
        **kafka_python_options(settings),
        **producer_options(),
        linger_ms=5,
        max_request_size=settings.topic_max_message_bytes,
        client_id="wirepipe-produce",
    )
    counts: Counter[str] = Counter()
    futures = []
    started = time.perf_counter()
    with Progress(console=None, transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task(f"producing to {topic}", total=None)
        for value in _lines(args.file):
            key = article_key(value)
            counts["keyed" if key else "unkeyed"] += 1
            futures.append(producer.send(topic, key=key, value=value))
            progress.advance(task)
            if args.rate:
                time.sleep(1 / args.rate)
    producer.flush()
    for future in futures:
        try:
            future.get(timeout=30)
            counts["sent"] += 1
        except Exception as exc:  # report every refused message, keep going
            counts["failed"] += 1
            log.error("produce.failed", error=str(exc))
    producer.close()
    log.info("produce.done", topic=topic, seconds=round(time.perf_counter() - started, 2), **counts)
    return 0 if counts["failed"] == 0 else 1


def cmd_enrich(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.enricher import Enricher  # noqa: PLC0415
    from pipeline.envelope import limits_from  # noqa: PLC0415
    from pipeline.offline import OfflinePipeline  # noqa: PLC0415

    log = get_logger()
    started = time.perf_counter()
    pipeline = OfflinePipeline(
        enricher=Enricher(
            args.model or settings.spacy_model,
            batch_size=settings.batch_size,
            selective=settings.selective_parse,
            blas=settings.blas,
            quote_min_confidence=settings.quote_min_confidence,
        ),
        limits=limits_from(settings),
    )
    log.info(
        "enrich.model_loaded",
        model=args.model or settings.spacy_model,
        seconds=round(time.perf_counter() - started, 2),
    )
    counts: Counter[str] = Counter()
    out = sys.stdout.buffer
    last_report = time.perf_counter()
    for record in pipeline.run(_lines(args.file), batch_size=args.batch_size or settings.batch_size):
        kind = getattr(record, "outcome", None) or f"dead_letter:{getattr(record, 'error_code', '?')}"
        counts[kind] += 1
        out.write(record.model_dump_json().encode() + b"\n")
        if time.perf_counter() - last_report > 5:
            out.flush()
            log.info("enrich.progress", done=sum(counts.values()), **counts)
            last_report = time.perf_counter()
    out.flush()
    analysis = pipeline.enricher.analysis
    parsed = analysis.total.shares() if analysis is not None else {"parsed_tokens_share": 1.0}
    log.info(
        "enrich.done",
        total=sum(counts.values()),
        seconds=round(time.perf_counter() - started, 2),
        **parsed,  # how much of the bodies the dependency parse ran over (selective analysis)
        **counts,
    )
    return 0


def cmd_tail(settings: Settings, args: argparse.Namespace) -> int:
    from kafka import KafkaConsumer  # noqa: PLC0415

    from pipeline.stream.kafka_config import check_credentials, kafka_python_options  # noqa: PLC0415

    check_credentials(settings)
    topic = {
        "raw": settings.topic_raw,
        "enriched": settings.topic_enriched,
        "deadletter": settings.topic_deadletter,
        "quotes": settings.topic_quotes,
    }.get(args.topic, args.topic)
    consumer = KafkaConsumer(
        topic,
        **kafka_python_options(settings),
        group_id=None,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        consumer_timeout_ms=int(args.timeout * 1000) if args.timeout else float("inf"),
        fetch_max_bytes=settings.topic_max_message_bytes,
        max_partition_fetch_bytes=settings.topic_max_message_bytes,
    )
    seen = 0
    try:
        for message in consumer:
            line = render(message.value, as_json=args.json)
            print(line, flush=True)
            seen += 1
            if args.max and seen >= args.max:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0


def render(value: bytes | None, *, as_json: bool = False) -> str:
    """One readable line per record: outcome, id, headline, entities, quotes, what an update changed (or the
    dead-letter reason)."""
    if value is None:
        return "tombstone"
    if as_json:
        return value.decode("utf-8", "replace")
    data = orjson.loads(value)
    if "error_code" in data:
        return (
            f"DEAD LETTER {data['error_code']:<15} stage={data['stage']} offset={data.get('offset')}: "
            + str(data["message"])[:120]
        )
    if "speaker_key" in data:
        quote = data.get("quote") or {}
        return f"QUOTE {data['speaker_key']}: {str(quote.get('text', ''))[:100]!r}"
    names = ", ".join(e["name"] for e in data.get("entities", [])[:6])
    extra = f" of {data['duplicate']['duplicate_of']}" if data.get("outcome") == "duplicate" else ""
    changes = data.get("changes") or {}
    since = f" | since v{changes.get('previous_version')}: {changes.get('summary')}" if changes else ""
    return (
        f"{data['outcome'].upper():<10}{extra} {data['id']} v{data['version']} "
        f"{(data.get('headline') or '')[:70]!r} entities={len(data.get('entities', []))} [{names}] "
        f"quotes={len(data.get('quotes', []))}{since}"
    )


def cmd_show(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.show import render_page  # noqa: PLC0415 - loads spaCy's displaCy palette
    from pipeline.show.source import ShowError, last_from_lines, last_from_topic, parse_record, serve  # noqa: PLC0415

    if args.file is None and args.uri is None:
        print("wirepipe: show needs a FILE (- for stdin) or --uri (the enriched topic)", file=sys.stderr)
        return 2
    try:
        if args.file is not None:
            value = last_from_lines(_lines(args.file), args.uri)
        else:
            value = last_from_topic(settings, args.uri, timeout_s=args.timeout)
        page = render_page(parse_record(value))
    except (ShowError, OSError) as exc:
        print(f"wirepipe: {exc}", file=sys.stderr)
        return 2
    if args.serve is not None:
        serve(page, args.serve, announce=lambda url: print(f"serving {url} (Ctrl-C stops)", flush=True))
    elif args.output:
        Path(args.output).write_bytes(page.encode("utf-8", "replace"))
    else:
        sys.stdout.buffer.write(page.encode("utf-8", "replace"))
        sys.stdout.flush()
    return 0


def cmd_broker(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.localkafka.foreground import run_foreground  # noqa: PLC0415

    if args.nodes < 1:
        print("wirepipe: --nodes must be at least 1", file=sys.stderr)
        return 2
    return run_foreground(port=args.port, nodes=args.nodes)


def cmd_topics(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.stream.kafka_config import ensure_topics  # noqa: PLC0415

    created = ensure_topics(settings)
    get_logger().info("topics.ensured", created=created)
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.stream.replay import Selection, replay  # noqa: PLC0415

    selection = Selection(
        codes=frozenset(args.code or ()),
        partition=args.partition,
        from_offset=args.from_offset,
        to_offset=args.to_offset,
    )
    report = replay(settings, selection, target_topic=args.topic, dry_run=args.dry_run)
    print(orjson.dumps({"replayed": report.total, "by_code": dict(report.replayed)}).decode(), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command line, one sub-command per job."""
    parser = argparse.ArgumentParser(prog="wirepipe", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("worker", help="run a Faust worker (scale by starting more)").set_defaults(fn=cmd_worker)

    p = sub.add_parser("produce", help="produce raw JSON lines to the raw topic, keyed by uri")
    p.add_argument("file", help="a JSON-lines file, or - for stdin")
    p.add_argument("--topic", help="override the raw topic")
    p.add_argument("--rate", type=float, default=0.0, help="messages per second (0: as fast as possible)")
    p.set_defaults(fn=cmd_produce)

    p = sub.add_parser("enrich", help="offline: raw JSON lines on stdin -> outcome JSON lines on stdout")
    p.add_argument("file", nargs="?", default="-")
    p.add_argument("--model", help="spaCy model (default: WIREPIPE_SPACY_MODEL)")
    p.add_argument("--batch-size", type=int, default=0)
    p.set_defaults(fn=cmd_enrich)

    p = sub.add_parser("tail", help="print records of a topic (raw, enriched, deadletter, quotes or a name)")
    p.add_argument("topic")
    p.add_argument("--json", action="store_true", help="print the raw JSON instead of a readable line")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--max", type=int, default=0, help="stop after this many records")
    p.add_argument("--timeout", type=float, default=0.0, help="stop after this many idle seconds")
    p.set_defaults(fn=cmd_tail)

    p = sub.add_parser("show", help="an HTML page of one enriched article, from a file or the enriched topic")
    p.add_argument("file", nargs="?", help="`wirepipe enrich` output, - for stdin (none: the topic)")
    p.add_argument("--uri", help="the article's id (default: the file's first record); its last version")
    where = p.add_mutually_exclusive_group()
    where.add_argument("-o", "--output", help="write the page to this file (default: stdout)")
    where.add_argument(
        "--serve", type=int, nargs="?", const=8000, metavar="PORT", help="serve on 127.0.0.1 (default 8000)"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to read the topic for, at most")
    p.set_defaults(fn=cmd_show)

    p = sub.add_parser("broker", help="run a local Kafka (KRaft) in the foreground: one node, or a cluster")
    p.add_argument("--port", type=int, default=9092, help="client port (a cluster: port, port+1, ...)")
    p.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="nodes (each broker and controller); 3 gives replication factor 3 and min.insync.replicas 2",
    )
    p.set_defaults(fn=cmd_broker)

    sub.add_parser("topics", help="create the topics if missing").set_defaults(fn=cmd_topics)

    p = sub.add_parser("replay", help="re-send chosen dead letters' original messages to the raw topic")
    p.add_argument("--code", action="append", help="only this error code (repeat for more)")
    p.add_argument("--partition", type=int, help="only this partition of the dead-letter topic")
    p.add_argument("--from-offset", type=int, help="first dead-letter offset to replay (inclusive)")
    p.add_argument("--to-offset", type=int, help="last dead-letter offset to replay (inclusive)")
    p.add_argument("--topic", help="send to this topic instead of the raw topic")
    p.add_argument("--dry-run", action="store_true", help="list what would be replayed, send nothing")
    p.set_defaults(fn=cmd_replay)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wirepipe`` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except Exception as exc:  # pydantic explains which variable is wrong
        print(f"wirepipe: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    from kafka.errors import KafkaError  # noqa: PLC0415

    from pipeline.stages.analysis import ModelError  # noqa: PLC0415
    from pipeline.stream.kafka_config import TopicSetupError  # noqa: PLC0415

    try:
        code: int = args.fn(settings, args)
    except (ModelError, TopicSetupError) as exc:
        print(f"wirepipe: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:  # one clear line, not a client library's traceback
        print(
            f"wirepipe: cannot use Kafka at {settings.kafka_bootstrap} "
            f"(is it running? are the credentials and TLS settings right?): {exc}",
            file=sys.stderr,
        )
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
