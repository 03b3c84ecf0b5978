# Wirepipe: every command a developer or CI needs. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/dev.txt
# uv installs the lock (hash-checked, in parallel); pip installs uv itself.
UV_VERSION := 0.13.8
UV     := $(BIN)/uv
EVAL_DIR   ?= ../shared/eval
EVAL_SPLIT ?= dev
export EVAL_DIR EVAL_SPLIT

.PHONY: install lock run test faults cluster-faults bench-smoke lint typecheck unit integration eval bench schema \
	broker clean containers image compose-test runtime-check browser

## The locked versions (requirements/dev.txt: runtime, dev and eval extras), then the project itself.
install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes -r $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

## Regenerate the locks from pyproject.toml (after changing a dependency; tests/unit/test_lock.py says when).
## runtime.txt is what the image installs; dev.txt adds the dev and eval extras at the same versions.
lock:
	@test -x $(UV) || $(MAKE) install
	$(UV) pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" -o requirements/runtime.txt
	$(UV) pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --extra dev --extra eval -c requirements/runtime.txt \
		-o requirements/dev.txt

## The main job on the local broker: broker, worker, demo articles flowing, then a clean stop.
run: install
	$(BIN)/python -m pipeline.demo

## The developer's check, under ten minutes on 2 cores: ruff, mypy --strict, then one pytest session of the
## unit and integration tests (one real broker for the session, started when needed). The long suites are
## targets of their own, and CI (.ci/run) runs each as a step: `make faults` (kills, restarts, rebalances,
## bursts, hostile input, security on the single broker), `make cluster-faults` (a three-node cluster) and
## `make bench-smoke` (the bench's smoke run). tests/faults/README.md says which suite runs where.
test: install browser lint typecheck
	$(BIN)/python -m pytest tests/unit tests/integration $(PYTEST_ARGS)

## Debian's Chromium, for the headless test of `wirepipe show`'s page (tests/unit/test_show_chromium.py).
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

## Fault tests on the local single-node broker (~30 min at their default sizes: tests/faults/README.md).
faults: install
	$(BIN)/python -m pytest tests/faults --ignore=tests/faults/cluster $(PYTEST_ARGS)

## Fault tests on a local three-node KRaft cluster (~9 min at their CI size: tests/faults/README.md).
cluster-faults: install
	$(BIN)/python -m pytest tests/faults/cluster $(PYTEST_ARGS)

## `make bench SMOKE=1` on the session broker, its report checked (tests/bench; ~3 min): the bench cannot rot.
bench-smoke: install
	$(BIN)/python -m pytest tests/bench $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check pipeline schemas tests eval examples bench deploy

typecheck: install
	$(BIN)/mypy pipeline schemas

unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: install
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

## Quality on labelled data: EVAL_DIR (default ../shared/eval) and EVAL_SPLIT (default dev).
eval: install
	$(BIN)/python eval/run_all.py

bench: install
	$(BIN)/python bench/run.py $(if $(SMOKE),--smoke,) $(BENCH_ARGS)

## Regenerate the JSON Schema files in schemas/ (a test fails when they are stale).
schema: install
	$(BIN)/python -m schemas.export

## A local single-node Kafka in the foreground (jars from Maven Central on first use).
broker: install
	$(BIN)/wirepipe broker

## A container engine (Podman with its Docker API where no Docker engine answers), Docker Compose, and every
## image docker-compose.yml names: pulled, or built as local stand-ins (docs/containers.md). Idempotent.
containers:
	deploy/containers.sh setup

## The worker image, wirepipe:local, from deploy/Dockerfile.
image: containers
	deploy/containers.sh image

## The compose stack end to end (tests/containers): three workers, a kill, a scale-down, Prometheus, down -v.
compose-test: install image
	eval "$$(deploy/containers.sh env)" && $(BIN)/python -m pytest tests/containers $(PYTEST_ARGS)

## The package as the image installs it (runtime lock, no dev/eval extras) in a fresh venv: enrich, a worker.
runtime-check: install
	deploy/runtime_check.sh

clean:
	rm -rf .wirepipe eval/results bench/results .pytest_cache .mypy_cache .ruff_cache
