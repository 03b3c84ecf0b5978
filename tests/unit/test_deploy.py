"""Deployment files, checked without a Docker engine or a cluster.

- docker-compose.yml is validated against the Compose Specification JSON Schema vendored by the
  ``check-jsonschema`` package (``check_jsonschema/builtin_schemas/vendor/compose-spec.json``), both as
  written and after ``${VAR:-default}`` interpolation. That is the schema ``docker compose config`` uses;
  what the schema cannot see (the images, the build, healthchecks passing, scaling) is tested on real
  containers by tests/containers (`make compose-test`).
- Kubernetes core manifests (ConfigMap, Deployment, Service, PodDisruptionBudget, Secret) are validated
  against the strict Kubernetes JSON schemas shipped by the ``kubernetes-validate`` package. KEDA's
  ScaledObject/TriggerAuthentication and the Kustomization are custom resources with no schema in that
  package: they get a structural check of the fields this project relies on, nothing more.
- The Dockerfile is read as text: stages, user, HEALTHCHECK, entrypoint (tests/containers builds and runs it).

Nothing is skipped: a missing validator package fails the test that needs it (both are dev extras).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"
K8S = ROOT / "deploy" / "k8s"
OPERATIONS = ROOT / "docs" / "operations.md"
KUBERNETES_VERSION = "1.30"

DEFAULTS = Settings()
SETTING_ENV_NAMES = {f"WIREPIPE_{name.upper()}" for name in Settings.model_fields}


# --- helpers -------------------------------------------------------------------------------------


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _k8s_documents() -> dict[str, dict[str, Any]]:
    """Every manifest under deploy/k8s, by ``Kind/name``."""
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                docs[f"{doc['kind']}/{doc['metadata']['name'] if 'metadata' in doc else path.name}"] = doc
    return docs


_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def _interpolate(value: Any) -> Any:
    """Compose's ``${VAR:-default}`` with an empty environment (``$$`` is a literal ``$``)."""
    if isinstance(value, str):
        escaped = value.replace("$$", "\0")
        return _INTERPOLATION.sub(lambda m: m.group("default") or "", escaped).replace("\0", "$")
    if isinstance(value, list):
        return [_interpolate(item) for item in value]
    if isinstance(value, dict):
        return {key: _interpolate(item) for key, item in value.items()}
    return value


def _compose_schema() -> dict[str, Any]:
    """The Compose Specification schema as vendored by check-jsonschema (read as a file, not imported)."""
    files = importlib.metadata.files("check-jsonschema") or []
    matches = [f for f in files if str(f).endswith("builtin_schemas/vendor/compose-spec.json")]
    assert matches, "check-jsonschema is installed but ships no vendored compose-spec.json"
    schema: dict[str, Any] = json.loads(matches[0].read_text(encoding="utf-8"))
    return schema


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = _load_yaml(COMPOSE)
    return data


def _dockerfile_stages() -> list[list[str]]:
    """Instructions of each stage, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[list[str]] = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(stripped)
    return stages


def _instructions(stage: list[str], keyword: str) -> list[str]:
    return [line[len(keyword) :].strip() for line in stage if line.upper().startswith(keyword + " ")]


def _documented_max_workers() -> int:
    match = re.search(r"Maximum workers:\s*\**\s*(\d+)", OPERATIONS.read_text(encoding="utf-8"))
    assert match, "docs/operations.md must state 'Maximum workers: N'"
    return int(match.group(1))


# --- compose ---------------------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    jsonschema.Draft7Validator(_compose_schema()).validate(_compose())


def test_compose_file_is_valid_after_interpolating_defaults() -> None:
    jsonschema.Draft7Validator(_compose_schema()).validate(_interpolate(_compose()))


def test_worker_can_be_scaled_no_container_name_and_no_host_port() -> None:
    worker = _compose()["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker, "a fixed host port allows one replica per host; use `expose`"


def test_worker_talks_to_kafka_on_the_internal_listener() -> None:
    compose = _interpolate(_compose())
    env = compose["services"]["worker"]["environment"]
    assert env["WIREPIPE_KAFKA_BOOTSTRAP"] == "kafka:19092"
    listeners = compose["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert "//kafka:19092" in listeners


def test_worker_environment_names_are_real_settings() -> None:
    for service in ("worker", "ingest"):
        env = _compose()["services"][service]["environment"]
        assert set(env) <= SETTING_ENV_NAMES, f"{service}: unknown {set(env) - SETTING_ENV_NAMES}"


def test_worker_healthcheck_probes_health_on_the_web_port_with_urllib() -> None:
    worker = _compose()["services"]["worker"]
    test = " ".join(worker["healthcheck"]["test"])
    assert f":{DEFAULTS.web_port}/health" in test
    assert "urllib" in test
    assert "curl" not in test


def test_worker_starts_after_kafka_is_healthy_and_topics_exist() -> None:
    depends = _compose()["services"]["worker"]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["topics"]["condition"] == "service_completed_successfully"


def test_kafka_is_the_official_image_pinned_to_a_4x_release() -> None:
    services = _compose()["services"]
    for name in ("kafka", "topics"):
        assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", services[name]["image"]), name


def test_one_kafka_version_in_compose_the_test_container_and_the_local_jars() -> None:
    from tests.brokers import KAFKA_IMAGE  # noqa: PLC0415 - imports kafka-python, only needed here

    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text(encoding="utf-8")
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert match
    images = {service["image"] for service in _compose()["services"].values() if "kafka" in service["image"]}
    assert images == {f"apache/kafka:{match.group(1)}"} == {KAFKA_IMAGE}


@pytest.mark.parametrize("service", ["kafka", "worker"])
def test_healthcheck_arguments_hold_no_whitespace(service: str) -> None:
    """Podman's Docker API (4.x) splits each health-check argument at spaces; Docker does not."""
    test = _compose()["services"][service]["healthcheck"]["test"]
    assert not [arg for arg in test if re.search(r"\s", arg)], test


def test_the_cluster_profile_runs_three_voters_with_three_replicas_and_min_isr_two() -> None:
    """deploy/cluster.env turns the single broker into the first of three (docs/operations.md)."""
    services = _compose()["services"]
    env = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy" / "cluster.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    nodes = ["kafka", "kafka-2", "kafka-3"]
    assert env["KAFKA_VOTERS"] == ",".join(f"{i}@{n}:29093" for i, n in enumerate(nodes, 1))
    assert env["KAFKA_BROKERS"] == ",".join(f"{n}:19092" for n in nodes)
    assert (env["WIREPIPE_REPLICATION_FACTOR"], env["WIREPIPE_MIN_INSYNC_REPLICAS"]) == ("3", "2")
    for i, name in enumerate(nodes, 1):
        node = services[name]["environment"]
        assert int(node["KAFKA_NODE_ID"]) == i
        assert f"INTERNAL://{name}:19092" in node["KAFKA_ADVERTISED_LISTENERS"]
        assert node["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "${KAFKA_VOTERS:-1@kafka:29093}"
        assert node["KAFKA_MIN_INSYNC_REPLICAS"] == "${WIREPIPE_MIN_INSYNC_REPLICAS:-1}"
    assert services["kafka-2"]["profiles"] == services["kafka-3"]["profiles"] == ["cluster"]
    worker = services["worker"]["environment"]
    assert worker["WIREPIPE_KAFKA_BOOTSTRAP"] == "${KAFKA_BROKERS:-kafka:19092}"
    assert worker["WIREPIPE_REPLICATION_FACTOR"] == "${WIREPIPE_REPLICATION_FACTOR:-1}"
    assert worker["WIREPIPE_MIN_INSYNC_REPLICAS"] == "${WIREPIPE_MIN_INSYNC_REPLICAS:-1}"
    script = " ".join(services["topics"]["command"])
    assert '--replication-factor "$$REPLICATION_FACTOR"' in script
    assert 'min.insync.replicas="$$MIN_INSYNC_REPLICAS"' in script


def test_kafka_healthcheck_asks_the_broker_for_api_versions() -> None:
    test = _compose()["services"]["kafka"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert test[1] == "/opt/kafka/bin/kafka-broker-api-versions.sh"
    assert "--bootstrap-server" in test


def test_topics_service_creates_every_topic_with_the_partitions_variable() -> None:
    topics = _compose()["services"]["topics"]
    script = " ".join(topics["command"])
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics["environment"]["PARTITIONS"] == "${WIREPIPE_PARTITIONS:-12}"
    assert '--partitions "$$PARTITIONS"' in script
    for topic in (
        DEFAULTS.topic_raw,
        DEFAULTS.topic_enriched,
        DEFAULTS.topic_quotes,
        DEFAULTS.topic_deadletter,
    ):
        assert f"create {topic} " in script, topic


def test_enriched_topic_is_compacted_and_quotes_and_dead_letters_have_retention() -> None:
    script = " ".join(_compose()["services"]["topics"]["command"])
    lines = {line.split()[1]: line for line in script.splitlines() if line.strip().startswith("create ")}
    assert "cleanup.policy=compact" in lines[DEFAULTS.topic_enriched]
    for topic in (DEFAULTS.topic_quotes, DEFAULTS.topic_deadletter):
        assert "retention.ms=" in lines[topic], topic


def test_optional_services_sit_behind_their_profiles() -> None:
    services = _compose()["services"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["ingest"]["profiles"] == ["ingest"]
    assert services["ingest"]["command"] == ["produce", "/app/examples/demo.jsonl"]
    for name in ("kafka", "topics", "worker"):
        assert "profiles" not in services[name], name


def test_prometheus_discovers_every_worker_replica_through_docker_dns() -> None:
    config = _load_yaml(PROMETHEUS)
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert "worker" in sd["names"] or "tasks.worker" in sd["names"]
    assert sd["type"] == "A"
    assert sd["port"] == DEFAULTS.web_port


# --- scale-out: partitions >= workers, everywhere it is stated -------------------------------------


def test_partitions_default_is_the_same_in_settings_compose_and_k8s() -> None:
    compose_default = int(_interpolate({"p": "${WIREPIPE_PARTITIONS:-12}"})["p"])
    assert _compose()["services"]["worker"]["environment"]["WIREPIPE_PARTITIONS"] == (
        "${WIREPIPE_PARTITIONS:-12}"
    )
    configmap = _k8s_documents()["ConfigMap/wirepipe-config"]
    assert compose_default == DEFAULTS.partitions == int(configmap["data"]["WIREPIPE_PARTITIONS"])


def test_documented_max_workers_matches_keda_max_replicas_and_fits_the_partitions() -> None:
    scaled = _k8s_documents()["ScaledObject/wirepipe-worker"]
    max_replicas = scaled["spec"]["maxReplicaCount"]
    assert _documented_max_workers() == max_replicas
    assert max_replicas <= DEFAULTS.partitions
    assert scaled["spec"]["minReplicaCount"] >= 1


# --- Dockerfile ------------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_with_a_slim_python_runtime() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2
    assert stages[-1][0].split()[1] == "python:3.11-slim"
    assert any("--from=builder" in line for line in _instructions(stages[-1], "COPY"))


def test_dockerfile_runtime_stage_runs_as_a_non_root_user() -> None:
    users = _instructions(_dockerfile_stages()[-1], "USER")
    assert users, "the runtime stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit(), "a numeric uid lets Kubernetes' runAsNonRoot verify it"
    deployment = _k8s_documents()["Deployment/wirepipe-worker"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(user)


def test_dockerfile_has_a_urllib_healthcheck_on_health() -> None:
    (check,) = _instructions(_dockerfile_stages()[-1], "HEALTHCHECK")
    assert "/health" in check
    assert "urllib" in check
    assert "curl" not in check
    command = json.loads(check[check.index("CMD") + 3 :])
    assert not [arg for arg in command if re.search(r"\s", arg)], "Podman splits arguments at spaces"


def test_dockerfile_installs_the_runtime_lock_with_hashes() -> None:
    runs = " ".join(_instructions(_dockerfile_stages()[0], "RUN"))
    assert "--require-hashes" in runs
    assert "-r requirements/runtime.txt" in runs


def test_dockerfile_runs_the_worker_by_default() -> None:
    runtime = _dockerfile_stages()[-1]
    assert json.loads(_instructions(runtime, "ENTRYPOINT")[-1]) == ["wirepipe"]
    assert json.loads(_instructions(runtime, "CMD")[-1]) == ["worker"]


def _ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics for the patterns used here: last match wins, a match covers children."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.removeprefix("!")
        if any(fnmatch(p, pattern) or fnmatch(p, pattern.removeprefix("**/")) for p in prefixes):
            ignored = not negate
    return ignored


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("pyproject.toml", False),
        ("README.md", False),
        ("pipeline/stream/app.py", False),
        ("schemas/records.py", False),
        ("examples/demo.jsonl", False),
        ("requirements/runtime.txt", False),
        ("requirements/dev.txt", True),
        (".git/HEAD", True),
        (".venv/bin/python", True),
        (".wirepipe/kafka/data", True),
        ("tests/unit/test_deploy.py", True),
        ("pipeline/__pycache__/app.cpython-311.pyc", True),
    ],
)
def test_dockerignore_keeps_the_build_context_to_what_the_image_needs(path: str, ignored: bool) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert _ignored(path, patterns) is ignored


# --- Kubernetes ------------------------------------------------------------------------------------

_CORE_KINDS = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "Secret"}


@pytest.mark.parametrize("key", sorted(k for k in _k8s_documents() if k.split("/")[0] in _CORE_KINDS))
def test_core_manifest_is_valid_against_the_strict_kubernetes_schema(key: str) -> None:
    import kubernetes_validate  # noqa: PLC0415 - a dev extra; its absence should fail only these tests

    kubernetes_validate.validate(_k8s_documents()[key], KUBERNETES_VERSION, strict=True)


def test_every_manifest_kind_is_checked_by_a_schema_or_structurally() -> None:
    kinds = {key.split("/")[0] for key in _k8s_documents()}
    assert kinds <= _CORE_KINDS | {"ScaledObject", "TriggerAuthentication", "Kustomization"}


def test_kustomization_lists_every_manifest_except_the_example_secret() -> None:
    kustomization = _load_yaml(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk


def test_deployment_probes_health_and_ready_on_the_web_port() -> None:
    container = _k8s_documents()["Deployment/wirepipe-worker"]["spec"]["template"]["spec"]["containers"][0]
    (port,) = container["ports"]
    assert port["containerPort"] == DEFAULTS.web_port
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]


def test_deployment_reads_settings_from_the_configmap_and_the_password_from_a_secret() -> None:
    docs = _k8s_documents()
    container = docs["Deployment/wirepipe-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"configMapRef": {"name": "wirepipe-config"}}]
    (password,) = [e for e in container["env"] if e["name"] == "WIREPIPE_SASL_PASSWORD"]
    assert password["valueFrom"]["secretKeyRef"]["name"] == "wirepipe-kafka"
    configmap = docs["ConfigMap/wirepipe-config"]["data"]
    assert "WIREPIPE_SASL_PASSWORD" not in configmap
    assert set(configmap) <= SETTING_ENV_NAMES, f"unknown settings: {set(configmap) - SETTING_ENV_NAMES}"


def test_metrics_service_selects_the_worker_pods() -> None:
    docs = _k8s_documents()
    pod_labels = docs["Deployment/wirepipe-worker"]["spec"]["template"]["metadata"]["labels"]
    service = docs["Service/wirepipe-metrics"]["spec"]
    assert service["selector"].items() <= pod_labels.items()
    (port,) = service["ports"]
    assert port["port"] == DEFAULTS.web_port


def test_scaled_object_targets_the_worker_and_scales_on_the_groups_lag() -> None:
    """Structural check: KEDA CRDs have no schema in kubernetes-validate."""
    docs = _k8s_documents()
    scaled = docs["ScaledObject/wirepipe-worker"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == docs["Deployment/wirepipe-worker"]["metadata"]["name"]
    triggers = scaled["spec"]["triggers"]
    assert triggers
    partitioned_topics = {DEFAULTS.topic_raw, f"{DEFAULTS.app_id}.nlp"}
    for trigger in triggers:
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == DEFAULTS.app_id
        assert meta["topic"] in partitioned_topics
        assert int(meta["lagThreshold"]) > 0
        assert meta["allowIdleConsumers"] == "false"
        assert trigger["authenticationRef"]["name"] in {
            key.split("/")[1] for key in docs if key.startswith("TriggerAuthentication/")
        }


def test_trigger_authentication_reads_the_same_secret_as_the_worker() -> None:
    auth = _k8s_documents()["TriggerAuthentication/wirepipe-kafka"]
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    refs = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert refs["password"]["name"] == "wirepipe-kafka"
    assert refs["password"]["key"] == "sasl-password"
