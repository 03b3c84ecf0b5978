"""Client options derived from settings, shared by every Kafka client the project creates."""

from __future__ import annotations

import contextlib
import ssl
import time
from typing import Any

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


def internal_topic(settings: Settings, step: str) -> str:
    """Name of an internal topic between the worker's steps (``<app id>.dedup``, ``<app id>.nlp``)."""
    return f"{settings.app_id}.{step}"


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


def ensure_topics(settings: Settings) -> list[str]:
    """Create the public topics if missing (the enriched topic compacted). Returns the ones created."""
    from kafka.admin import KafkaAdminClient, NewTopic  # noqa: PLC0415
    from kafka.errors import TopicAlreadyExistsError  # noqa: PLC0415

    admin = KafkaAdminClient(**kafka_python_options(settings), client_id="wirepipe-admin")
    try:
        existing = set(admin.list_topics())
        size = {"max.message.bytes": str(settings.topic_max_message_bytes)}
        day_ms = 86_400_000
        # The same configs as docker-compose's `topics` service, whoever creates the topics first.
        wanted: dict[str, tuple[int, dict[str, str]]] = {
            settings.topic_raw: (settings.partitions, {"retention.ms": str(7 * day_ms), **size}),
            settings.topic_enriched: (settings.partitions, {"cleanup.policy": "compact", **size}),
            settings.topic_deadletter: (settings.partitions, {"retention.ms": str(14 * day_ms), **size}),
            settings.topic_quotes: (settings.partitions, {"retention.ms": str(30 * day_ms)}),
            # The worker's internal topics too: Faust would create them itself, but after its consumer
            # subscribed, and a partition missing from the first assignment then waits for a rebalance.
            internal_topic(settings, "dedup"): (1, size),
            internal_topic(settings, "nlp"): (settings.partitions, size),
            internal_topic(settings, "quote-index"): (settings.partitions, {}),
        }
        new = [
            NewTopic(
                name=name,
                num_partitions=partitions,
                replication_factor=settings.replication_factor,
                topic_configs=configs,
            )
            for name, (partitions, configs) in wanted.items()
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first: fine
                admin.create_topics(new)
            _wait_for_leaders(admin, list(wanted))
        return [t.name for t in new]
    finally:
        admin.close()
