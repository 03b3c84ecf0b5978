"""Client options derived from settings, shared by every Kafka client the project creates."""

from __future__ import annotations

import contextlib
import ssl
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
        wanted = {
            settings.topic_raw: {"retention.ms": str(7 * day_ms), **size},
            settings.topic_enriched: {"cleanup.policy": "compact", **size},
            settings.topic_deadletter: {"retention.ms": str(14 * day_ms), **size},
            settings.topic_quotes: {"retention.ms": str(30 * day_ms)},
        }
        new = [
            NewTopic(
                name=name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=configs,
            )
            for name, configs in wanted.items()
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first: fine
                admin.create_topics(new)
        return [t.name for t in new]
    finally:
        admin.close()
