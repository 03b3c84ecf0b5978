# Wirepipe: every command a developer or CI needs. `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EVAL_DIR   ?= ../shared/eval
EVAL_SPLIT ?= dev
export EVAL_DIR EVAL_SPLIT

.PHONY: install run test lint typecheck unit integration eval bench schema broker clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,eval]'
	@touch $(STAMP)

## The main job on the local broker: broker, worker, demo articles flowing, then a clean stop.
run: install
	$(BIN)/python -m pipeline.demo

## ruff, mypy --strict, then pytest (unit and integration; the broker starts when needed).
test: install lint typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check pipeline schemas tests eval examples bench

typecheck: install
	$(BIN)/mypy pipeline schemas

unit: install
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: install
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

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

clean:
	rm -rf .wirepipe eval/results bench/results .pytest_cache .mypy_cache .ruff_cache
