"""Client options derived from settings, shared by every Kafka client the project creates."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Any

from pipeline.logs import get_logger
from pipeline.settings import Settings


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Options for kafka-python clients (producer, consumer, admin) with security applied."""
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap.split(","),
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        opts["sasl_mechanism"] = settings.sasl_mechanism
        opts["sasl_plain_username"] = settings.sasl_username
        opts["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    if settings.ssl_cafile:
        opts["ssl_cafile"] = settings.ssl_cafile
    return opts


def faust_credentials(settings: Settings) -> Any:
    """Faust's ``broker_credentials`` for SASL and/or TLS, or None for plaintext."""
    import faust  # noqa: PLC0415 - keep faust out of processes that never start a worker

    context = ssl.create_default_context(cafile=settings.ssl_cafile) if settings.ssl_cafile else None
    if settings.sasl_mechanism:
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else ""
        return faust.SASLCredentials(
            username=settings.sasl_username or "",
            password=password,
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def _probe_one(settings: Settings, host: str, port: int, timeout_s: float) -> Exception | None:
    """One SASL connection to one broker: the authentication error it raised, or None (also when the
    broker could not be reached: that is the clients' to wait for, not the probe's)."""
    from aiokafka import errors  # noqa: PLC0415 - only processes that talk to Kafka pay for the import
    from aiokafka.conn import create_conn  # noqa: PLC0415

    refused: tuple[type[Exception], ...] = (
        errors.SaslAuthenticationFailed,
        errors.AuthenticationFailedError,
        errors.AuthenticationMethodNotSupported,
        errors.UnsupportedSaslMechanismError,
        errors.IllegalSaslStateError,
    )
    tls = settings.security_protocol.endswith("SSL")

    async def connect() -> Exception | None:
        try:
            conn = await create_conn(
                host,
                port,
                client_id="wirepipe-auth-probe",
                request_timeout_ms=int(timeout_s * 1000),
                ssl_context=ssl.create_default_context(cafile=settings.ssl_cafile) if tls else None,
                security_protocol=settings.security_protocol,
                sasl_mechanism=settings.sasl_mechanism,
                sasl_plain_username=settings.sasl_username,
                sasl_plain_password=(
                    settings.sasl_password.get_secret_value() if settings.sasl_password else None
                ),
            )
        except refused as exc:
            return exc
        except Exception:  # unreachable, slow or closed: the real clients retry within their timeout
            return None
        conn.close()
        return None

    return asyncio.run(connect())


def check_credentials(settings: Settings, timeout_s: float = 5.0) -> None:
    """Fail at once when a broker refuses the SASL credentials.

    kafka-python 3.0 retries a refused authentication like an unreachable broker until its 30 s
    ``bootstrap_timeout_ms``, then reports only "Unable to bootstrap". One aiokafka connection to the first
    broker that answers shows the broker's own reason in well under a second. Reachability is left to the
    clients: a broker that is down or slow to start still gets their full timeout.
    """
    if not settings.sasl_mechanism:
        return
    from kafka.errors import SaslAuthenticationFailedError  # noqa: PLC0415

    for server in settings.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        refused = _probe_one(settings, host.strip("[]"), int(port), timeout_s)
        if refused is not None:
            reason = str(refused).split(": ", 1)[-1]  # aiokafka repeats the class name in its message
            raise SaslAuthenticationFailedError(f"{reason} (user {settings.sasl_username!r} at {server})")


def table_partitions(settings: Settings) -> dict[str, int]:
    """The worker's Faust tables and their partition counts (the one place both are written down)."""
    return {"versions": settings.partitions, "dedup-index": 1, "stories": settings.partitions}


def changelog_topic(settings: Settings, table: str) -> str:
    """Faust's name for a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"


def internal_topic(settings: Settings, step: str) -> str:
    """Name of an internal topic between the worker's steps (``<app id>.dedup``, ``<app id>.nlp``)."""
    return f"{settings.app_id}.{step}"


def leader_topic(settings: Settings) -> str:
    """Faust's topic for electing the group's leader worker (it would create it itself, after joining)."""
    return f"{settings.app_id}-__assignor-__leader"


def producer_options() -> dict[str, Any]:
    """Delivery options of every producer: acknowledged by all in-sync replicas (at least
    ``min.insync.replicas``), and idempotent, so a retry after a lost acknowledgement (a leader that died
    mid-request) does not write the record twice."""
    return {"acks": "all", "enable_idempotence": True}


class TopicSetupError(RuntimeError):
    """The project's topics cannot be created as configured (the message says what to change)."""


def check_replication(settings: Settings, live_brokers: int) -> None:
    """Refuse a replication factor the cluster cannot hold, before Kafka refuses each topic."""
    if settings.replication_factor > live_brokers:
        raise TopicSetupError(
            f"WIREPIPE_REPLICATION_FACTOR={settings.replication_factor} needs that many brokers, but the "
            f"cluster at {settings.kafka_bootstrap} has {live_brokers} live: lower it (1 on a single "
            "broker) or start the missing brokers"
        )


def _wait_for_leaders(admin: Any, names: list[str], timeout_s: float = 30.0) -> None:
    """Wait until every partition of the topics has a leader, so clients see them at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described = admin.describe_topics(names)
        ready = all(
            not t.get("error_code")
            and t.get("partitions")
            and all(p.get("leader_id", p.get("leader", -1)) >= 0 for p in t["partitions"])
            for t in described
        )
        if ready:
            return
        time.sleep(0.2)
    raise TimeoutError(f"topics {names} have no leader after {timeout_s}s")


def wanted_topics(settings: Settings) -> dict[str, tuple[int, dict[str, str]]]:
    """Every topic the project creates: name -> (partitions, topic configs), replication settings apart."""
    size = {"max.message.bytes": str(settings.topic_max_message_bytes)}
    day_ms = 86_400_000
    # The same configs as docker-compose's `topics` service, whoever creates the topics first.
    return {
        settings.topic_raw: (settings.partitions, {"retention.ms": str(7 * day_ms), **size}),
        settings.topic_enriched: (settings.partitions, {"cleanup.policy": "compact", **size}),
        settings.topic_deadletter: (settings.partitions, {"retention.ms": str(14 * day_ms), **size}),
        settings.topic_quotes: (settings.partitions, {"retention.ms": str(30 * day_ms)}),
        # The worker's internal topics too: Faust would create them itself, but after its consumer
        # subscribed, and a partition missing from the first assignment then waits for a rebalance.
        internal_topic(settings, "dedup"): (1, size),
        internal_topic(settings, "nlp"): (settings.partitions, size),
        # And the tables' changelogs: created by Faust at start, they were sometimes not yet in the
        # metadata when its recovery looked, which failed every article with PartitionsMismatch.
        **{
            changelog_topic(settings, table): (partitions, {"cleanup.policy": "compact"})
            for table, partitions in table_partitions(settings).items()
        },
        leader_topic(settings): (1, {}),  # Faust's, but replicated like ours
    }


def ensure_topics(settings: Settings, retry_s: float = 60.0) -> list[str]:
    """Create the project's topics if missing (the enriched topic compacted), each with the configured
    replication factor and ``min.insync.replicas``. Returns the ones created. Raises
    ``TopicSetupError`` when the cluster has fewer live brokers than the replication factor.

    A broker that died a moment ago is still in the cluster's metadata until its session expires, and
    a request sent to it fails: such retriable errors are tried again on a new client for ``retry_s``.
    Reaching no broker at all is not retried here (the client's own bootstrap timeout has passed)."""
    from kafka.admin import KafkaAdminClient  # noqa: PLC0415
    from kafka.errors import KafkaError  # noqa: PLC0415

    check_credentials(settings)  # the first client of `worker`, `produce` and `topics`: fail fast if refused
    deadline = time.monotonic() + retry_s
    while True:
        admin = KafkaAdminClient(**kafka_python_options(settings), client_id="wirepipe-admin")
        try:
            return _create_missing(admin, settings)
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
            get_logger().warning("topics.retry", error=repr(exc), bootstrap=settings.kafka_bootstrap)
        finally:
            admin.close()
        time.sleep(1.0)


def _create_missing(admin: Any, settings: Settings) -> list[str]:
    from kafka.admin import NewTopic  # noqa: PLC0415
    from kafka.errors import TopicAlreadyExistsError  # noqa: PLC0415

    existing = set(admin.list_topics())
    wanted = wanted_topics(settings)
    replicas = {"min.insync.replicas": str(settings.insync_replicas)}
    new = [
        NewTopic(
            name=name,
            num_partitions=partitions,
            replication_factor=settings.replication_factor,
            topic_configs={**configs, **replicas},
        )
        for name, (partitions, configs) in wanted.items()
        if name not in existing
    ]
    if new:
        check_replication(settings, len(admin.describe_cluster()["brokers"]))
        with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first: fine
            admin.create_topics(new)
        _wait_for_leaders(admin, list(wanted))
    return [t.name for t in new]
