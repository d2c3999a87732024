# The two commands: `make dev` (local sandbox) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint bench controlplane clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Build (or reuse from ~/.cache/siptrunk-operator) kube-apiserver, etcd and kubectl.
controlplane:
	bash deploy/local/controlplane/build.sh

## Local sandbox: control plane + emulator + operator + the sample trunk; ends in `kubectl get siptrunks`.
dev: $(STAMP) controlplane
	$(BIN)/siptrunk-operator dev $(DEV_ARGS)

## The whole test suite (unit, API, end to end, reliability) on a real control plane.
test: $(STAMP) controlplane
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks print figures (ratios against a baseline run in the same process); they assert nothing.
bench: $(STAMP)
	$(BIN)/python tests/benchmarks/refresh_cost.py --trunks 1000

lint: $(STAMP)
	$(BIN)/ruff check operator tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
