#!/usr/bin/env bash
# `make runtime-check` (CI): install Wirepipe as the image does, from the runtime lock without the dev and eval
# extras, into a fresh venv, and run it: `wirepipe enrich` on the demo set, then a worker on a real broker that
# gets ready, publishes the demo's outcomes and stops cleanly. A runtime dependency that only an extra brings
# (lxml_html_clean did: readability-lxml in the eval extra pulled it in) fails here instead of in production.
# The broker comes from the development venv (`wirepipe broker` needs the repository's Maven pom).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEV=$ROOT/.venv/bin
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
say() { printf 'runtime-check: %s\n' "$*"; }
free_port() { "$DEV/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

say "fresh venv, runtime lock only (no dev/eval extras)"
python3 -m venv "$work/venv"
venv=$work/venv/bin
"$venv/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$ROOT/requirements/runtime.txt"
"$venv/pip" install --quiet --disable-pip-version-check --no-deps "$ROOT"
"$venv/pip" check

say "wirepipe enrich < examples/demo.jsonl"
"$venv/wirepipe" enrich <"$ROOT/examples/demo.jsonl" >"$work/enriched.jsonl" 2>"$work/enrich.log" \
    || { tail -n 20 "$work/enrich.log"; exit 1; }
inputs=$(grep -c . "$ROOT/examples/demo.jsonl")
outputs=$(grep -c '"outcome"\|"error_code"' "$work/enriched.jsonl" || true)
[[ $outputs -eq $inputs ]] || { say "enrich gave $outputs outcomes for $inputs inputs"; exit 1; }

say "a worker on a local broker"
port=$(free_port)
web=$(free_port)
"$DEV/wirepipe" broker --port "$port" >"$work/broker.log" 2>&1 &
pids+=($!)
export WIREPIPE_KAFKA_BOOTSTRAP=localhost:$port WIREPIPE_WEB_PORT=$web WIREPIPE_DATA_DIR=$work/data \
    WIREPIPE_LOG_FORMAT=json
# The demo gives five outcome records and a tombstone (the withdrawn story) on the enriched topic.
for _ in $(seq 1 180); do
    "$venv/wirepipe" topics >"$work/topics.log" 2>&1 && break
    sleep 1
done
"$venv/wirepipe" worker >"$work/worker.log" 2>&1 &
worker=$!
pids+=("$worker")
ready=""
for _ in $(seq 1 180); do
    if "$venv/python" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$web/ready', timeout=2)" 2>/dev/null; then
        ready=yes
        break
    fi
    kill -0 "$worker" 2>/dev/null || break
    sleep 1
done
[[ -n $ready ]] || { say "the worker never got ready"; tail -n 30 "$work/worker.log"; exit 1; }
"$venv/wirepipe" produce "$ROOT/examples/demo.jsonl" >/dev/null
"$venv/wirepipe" tail enriched --json --from-beginning --max 6 --timeout 120 >"$work/out.jsonl"
published=$(grep -c '"outcome"' "$work/out.jsonl" || true)
[[ $published -ge 5 ]] || { say "only $published outcomes published"; tail -n 30 "$work/worker.log"; exit 1; }
kill -TERM "$worker"
status=0
wait "$worker" || status=$?
[[ $status -eq 0 ]] || { say "the worker exited $status on SIGTERM"; tail -n 30 "$work/worker.log"; exit 1; }
say "ok: enrich gave $outputs outcomes for $inputs inputs; the worker published $published and stopped cleanly"
