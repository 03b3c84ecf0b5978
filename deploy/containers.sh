#!/usr/bin/env bash
# `make containers`: a container engine, Docker Compose and every image docker-compose.yml names, on a machine
# that may have no Docker at all (docs/containers.md says what each step does and why).
#
#   deploy/containers.sh [setup]   engine + compose + images (idempotent; a second run takes seconds)
#   deploy/containers.sh engine    a Docker engine if one answers, else Podman with its Docker API socket
#   deploy/containers.sh compose   Docker Compose: the docker CLI plugin if present, else built from its Go module
#   deploy/containers.sh images    pull every image the compose file names, or build its local stand-in
#   deploy/containers.sh image     build the worker image (wirepipe:local) from deploy/Dockerfile
#   deploy/containers.sh env       print the exports that point docker tools at the engine
#   deploy/containers.sh stop      stop the Podman API service if this script started it
#
# Settings (environment): WIREPIPE_STANDINS=always skips pulling; COMPOSE_VERSION (v5.6.0).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=$ROOT/.wirepipe
COMPOSE_VERSION=${COMPOSE_VERSION:-v5.6.0}
COMPOSE_MODULE=github.com/docker/compose/v5
COMPOSE_BIN=$CACHE/bin/docker-compose
PODMAN_SOCKET=/run/podman/podman.sock
SERVICE_PID=/run/podman/wirepipe-api.pid
HEALTH_PID=/run/podman/wirepipe-healthchecks.pid
CONF_DROPIN=/etc/containers/containers.conf.d/50-wirepipe.conf

say() { printf '%s\n' "containers: $*" >&2; }
die() { say "$*"; exit 1; }

# --- engine -----------------------------------------------------------------------------------------------

docker_engine_answers() {
    # A real Docker engine at the default place (DOCKER_HOST as the user set it, else /var/run/docker.sock).
    command -v docker >/dev/null 2>&1 || return 1
    local os
    os=$(timeout 10 docker info --format '{{.OperatingSystem}}' 2>/dev/null) || return 1
    [[ -n "$os" && "$os" != *podman* && "$os" != *Podman* ]]
}

engine() {
    # Prints "docker" or "podman"; with podman, the API socket is up when it returns.
    if [[ "${WIREPIPE_ENGINE:-}" != podman ]] && docker_engine_answers; then
        echo docker
        return
    fi
    podman_ready >&2
    echo podman
}

podman_ready() {
    if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
        [[ $(id -u) -eq 0 ]] || die "no Docker engine answers and Podman is not installed: run as root, or
    apt-get install podman runc debootstrap curl"
        say "installing podman, runc, debootstrap (Debian packages)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq podman runc debootstrap curl >/dev/null
    fi
    podman_configure
    podman info >/dev/null 2>&1 || die "podman does not work here: $(podman info 2>&1 | tail -n 3)"
    podman_service
    podman_healthchecks
}

podman_configure() {
    # These machines mount cgroups in hybrid mode (crun refuses it; runc with cgroupfs works) and allow lower
    # rlimits than podman's defaults (every container would fail with "error setting rlimits").
    local want
    want=$(cat <<'EOF'
# Written by Wirepipe's deploy/containers.sh (`make containers`): defaults this machine kind needs.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
EOF
)
    if [[ $(id -u) -ne 0 ]]; then
        return  # rootless podman has its own configuration; leave it as the user set it up
    fi
    if [[ ! -f $CONF_DROPIN ]] || [[ "$(cat "$CONF_DROPIN")" != "$want" ]]; then
        mkdir -p "$(dirname "$CONF_DROPIN")"
        printf '%s\n' "$want" >"$CONF_DROPIN"
        say "wrote $CONF_DROPIN (runtime runc, cgroupfs, ulimits nofile=20000 nproc=4096)"
    fi
}

api_answers() {
    curl -fsS --max-time 5 --unix-socket "$1" http://d/_ping >/dev/null 2>&1
}

podman_service() {
    # Podman's Docker Engine API (compose, testcontainers and the docker SDK talk to it). Idempotent.
    api_answers "$PODMAN_SOCKET" && return
    mkdir -p "$(dirname "$PODMAN_SOCKET")"
    rm -f "$PODMAN_SOCKET"  # a socket left by a service that no longer runs
    say "starting the Docker API: podman system service unix://$PODMAN_SOCKET"
    setsid nohup podman system service --time=0 "unix://$PODMAN_SOCKET" \
        >"$(dirname "$PODMAN_SOCKET")/wirepipe-api.log" 2>&1 </dev/null &
    echo $! >"$SERVICE_PID"
    for _ in $(seq 1 100); do
        api_answers "$PODMAN_SOCKET" && return
        sleep 0.2
    done
    die "the podman API did not answer on $PODMAN_SOCKET (log: $(dirname "$PODMAN_SOCKET")/wirepipe-api.log)"
}

alive() {  # alive PIDFILE PATTERN: the process the pid file names runs and its command line has PATTERN
    [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null && tr '\0' ' ' <"/proc/$(cat "$1")/cmdline" | grep -q "$2"
}

podman_healthchecks() {
    # Podman runs health checks from systemd timers; without systemd nothing would ever mark a container
    # healthy and `depends_on: condition: service_healthy` would wait for ever (deploy/podman_healthchecks.py).
    [[ -d /run/systemd/system ]] && return
    alive "$HEALTH_PID" podman_healthchecks && return
    say "no systemd: running container health checks from deploy/podman_healthchecks.py"
    setsid nohup python3 "$ROOT/deploy/podman_healthchecks.py" \
        >"$(dirname "$PODMAN_SOCKET")/wirepipe-healthchecks.log" 2>&1 </dev/null &
    echo $! >"$HEALTH_PID"
}

stop_service() {
    local pidfile pattern
    for pidfile in "$SERVICE_PID" "$HEALTH_PID"; do
        pattern="system service"
        [[ $pidfile == "$HEALTH_PID" ]] && pattern=podman_healthchecks
        if alive "$pidfile" "$pattern"; then
            kill "$(cat "$pidfile")"
            say "stopped $pattern (pid $(cat "$pidfile"))"
        fi
        rm -f "$pidfile"
    done
}

env_exports() {
    # For `eval "$(deploy/containers.sh env)"`: what docker tools, Compose and tests/containers need.
    local eng compose
    eng=$(engine)
    compose=$(compose_cmd)
    if [[ $eng == podman ]]; then
        echo "export DOCKER_HOST=unix://$PODMAN_SOCKET"
    fi
    echo "export WIREPIPE_CONTAINER_ENGINE=$eng"
    echo "export WIREPIPE_COMPOSE='$compose'"
    echo "export PATH=$CACHE/bin:\$PATH"
}

# --- compose ----------------------------------------------------------------------------------------------

compose_cmd() {
    # Prints the compose command line: `docker compose` when the CLI has the plugin (v2+), else our binary.
    if command -v docker >/dev/null 2>&1 && docker compose version --short 2>/dev/null | grep -qE '^v?[2-9]'; then
        echo "docker compose"
        return
    fi
    compose_binary >&2
    echo "$COMPOSE_BIN"
}

compose_binary() {
    local want=${COMPOSE_VERSION#v}
    if [[ -x $COMPOSE_BIN ]] && [[ "$("$COMPOSE_BIN" version --short 2>/dev/null)" == "$want" ]]; then
        return
    fi
    if compose_build; then
        return
    fi
    say "Docker Compose $COMPOSE_VERSION could not be built here: falling back to podman-compose from PyPI"
    compose_fallback
}

compose_build() {
    # The real Docker Compose, built from its Go module (the module proxy serves it; `go install` refuses it
    # because its go.mod has exclude directives, so it is built as the main module from the downloaded copy).
    command -v go >/dev/null 2>&1 || { say "no Go toolchain"; return 1; }
    local dir src
    say "building Docker Compose $COMPOSE_VERSION from its Go module (a few minutes the first time)"
    dir=$(GOFLAGS=-mod=mod go mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION" 2>/dev/null \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
    [[ -n "$dir" && -d "$dir" ]] || { say "go mod download $COMPOSE_MODULE@$COMPOSE_VERSION failed"; return 1; }
    src=$(mktemp -d)
    cp -r "$dir/." "$src/" && chmod -R u+w "$src"
    mkdir -p "$(dirname "$COMPOSE_BIN")"
    if ! (cd "$src" && GOTOOLCHAIN=local nice -n 10 go build -trimpath \
            -ldflags "-w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" -o "$COMPOSE_BIN.tmp" ./cmd) \
            >"$src.log" 2>&1; then
        say "go build failed: $(tail -n 5 "$src.log")"
        rm -rf "$src" "$src.log"
        return 1
    fi
    rm -rf "$src" "$src.log"
    mv "$COMPOSE_BIN.tmp" "$COMPOSE_BIN"
    say "Docker Compose $("$COMPOSE_BIN" version --short) at $COMPOSE_BIN"
}

compose_fallback() {
    local venv=$CACHE/podman-compose
    [[ -x $venv/bin/podman-compose ]] || {
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "podman-compose==1.6.0"
    }
    mkdir -p "$(dirname "$COMPOSE_BIN")"
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$venv/bin/podman-compose" >"$COMPOSE_BIN"
    chmod +x "$COMPOSE_BIN"
}

# --- images -----------------------------------------------------------------------------------------------

qualify() {
    # docker.io/library/python:3.11-slim for python:3.11-slim, docker.io/apache/kafka:4.4.0 for apache/kafka:...
    local name=$1 first
    if [[ $name != */* ]]; then
        echo "docker.io/library/$name"
        return
    fi
    first=${name%%/*}
    if [[ $first == *.* || $first == *:* || $first == localhost ]]; then
        echo "$name"
    else
        echo "docker.io/$name"
    fi
}

needed_images() {
    # Every image a service of the compose file (all profiles) runs, and the FROM images of those it builds.
    local compose=$1
    # shellcheck disable=SC2086  # compose may be two words ("docker compose")
    $compose -f "$ROOT/docker-compose.yml" --profile '*' config --format json | python3 -c '
import json, pathlib, re, sys
config = json.load(sys.stdin)
seen = set()
for service in config["services"].values():
    build = service.get("build")
    if build:
        context = pathlib.Path(build.get("context", "."))
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        stages = set()
        for line in dockerfile.read_text().splitlines():
            m = re.match(r"\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
            if m:
                if m.group(1) not in stages:
                    seen.add(m.group(1))
                if m.group(2):
                    stages.add(m.group(2))
    elif service.get("image"):
        seen.add(service["image"])
print("\n".join(sorted(seen)))
'
}

kafka_version() {
    sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/kafka/pom.xml"
}

standin_kind() {
    case ${1%:*} in
        docker.io/library/python) echo python ;;
        docker.io/apache/kafka) echo kafka ;;
        docker.io/prom/prometheus) echo prometheus ;;
    esac
}

standin_hash() {
    # What a stand-in is made from: its folder, its script, the base script and (Kafka) the jar pom.
    local kind=$1 dir=$ROOT/deploy/standins
    {
        find "$dir/$kind" -type f -print0 | sort -z | xargs -0 cat
        cat "$dir/$kind.sh" "$dir/debian.sh"
        if [[ $kind == kafka ]]; then cat "$ROOT/deploy/kafka/pom.xml"; fi
    } | sha256sum | cut -c1-16
}

standin() {
    # Build the local stand-in for one qualified image name, or say why there is none.
    local image=$1 repo=${1%:*} tag=${1##*:}
    export WIREPIPE_STANDIN_HASH
    WIREPIPE_STANDIN_HASH=$(standin_hash "$(standin_kind "$image")")
    case $repo in
        docker.io/library/python)
            [[ $tag == 3.11-slim ]] || die "no stand-in for $image (only python:3.11-slim, Debian 12's Python)"
            "$ROOT/deploy/standins/python.sh" "$image" ;;
        docker.io/apache/kafka)
            [[ $tag == "$(kafka_version)" ]] \
                || die "docker-compose.yml names $image but deploy/kafka/pom.xml resolves Kafka $(kafka_version)"
            "$ROOT/deploy/standins/kafka.sh" "$image" ;;
        docker.io/prom/prometheus)
            "$ROOT/deploy/standins/prometheus.sh" "$image" ;;
        *)
            die "$image cannot be pulled and has no local stand-in" ;;
    esac
}

ensure_images() {
    local eng=$1 compose=$2 name image kind built
    for name in $(needed_images "$compose"); do
        image=$(qualify "$name")
        kind=$(standin_kind "$image")
        # The label a stand-in carries (the hash of the files it was made from); empty for a pulled image.
        if built=$("$eng" image inspect --format '{{index .Labels "wirepipe.standin"}}' "$image" 2>/dev/null); then
            if [[ -z $built || $built == "<no value>" || $built == "$(standin_hash "$kind")" ]]; then
                say "$name: present${built:+ (local stand-in)}"
                continue
            fi
            say "$name: a local stand-in made from older files; rebuilding it"
            standin "$image"
        elif [[ ${WIREPIPE_STANDINS:-} != always ]] && timeout 300 "$eng" pull -q "$image" >/dev/null 2>&1; then
            say "$name: pulled"
        elif [[ $eng == podman ]]; then
            say "$name: no registry answers; building the local stand-in"
            standin "$image"
        else
            die "$name: cannot be pulled (stand-ins are built with podman only)"
        fi
    done
}

build_worker_image() {
    local eng=$1 tag=${2:-wirepipe:local}
    local args=(build --format docker -t "$tag" -f "$ROOT/deploy/Dockerfile")
    [[ $eng == docker ]] && args=(build -t "$tag" -f "$ROOT/deploy/Dockerfile")
    # pip in the build verifies PyPI against this machine's CA bundle, mounted for the build only (never baked in).
    if [[ $eng == podman && -f /etc/ssl/certs/ca-certificates.crt ]]; then
        args+=(-v /etc/ssl/certs:/etc/ssl/certs:ro)
    fi
    say "building $tag ($eng ${args[*]} .)"
    nice -n 10 "$eng" "${args[@]}" "$ROOT"
}

# --- main -------------------------------------------------------------------------------------------------

main() {
    local cmd=${1:-setup} eng compose
    case $cmd in
        setup)
            eng=$(engine)
            compose=$(compose_cmd)
            ensure_images "$eng" "$compose"
            say "ready: engine $eng, compose '$compose'"
            env_exports ;;
        engine) engine ;;
        compose) compose_cmd ;;
        images) ensure_images "$(engine)" "$(compose_cmd)" ;;
        image) build_worker_image "$(engine)" "${2:-wirepipe:local}" ;;
        env) env_exports ;;
        stop) stop_service ;;
        *) die "unknown command $cmd (setup, engine, compose, images, image, env, stop)" ;;
    esac
}

main "$@"
