# The two commands: `make dev` (local sandbox) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint bench controlplane clean mutation

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Build (or reuse from ~/.cache/siptrunk-operator) kube-apiserver, etcd and kubectl.
controlplane: kstatus
	bash deploy/local/controlplane/build.sh

## Build (or reuse) the kstatus command (sigs.k8s.io/cli-utils) that tests/e2e/test_kstatus.py runs.
.PHONY: kstatus
kstatus:
	bash tools/kstatus/build.sh

## Local sandbox: control plane + emulator + operator + the sample trunk; ends in `kubectl get siptrunks`.
dev: $(STAMP) controlplane
	$(BIN)/siptrunk-operator dev $(DEV_ARGS)

## The whole test suite (unit, API, end to end, reliability) on a real control plane.
test: $(STAMP) controlplane
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Benchmarks print figures (ratios against a baseline run in the same process); they assert nothing.
## One table (BENCHMARKS.md explains it); e.g. `make bench BENCH_ARGS="--trunks 100,1000 --window 60"`.
BENCH_ARGS ?= --trunks 1000
bench: $(STAMP) controlplane
	$(BIN)/python tests/benchmarks/burst.py $(BENCH_ARGS)

## Mutation testing of the decision modules against the unit tests: prints a score table; it reports, it does
## not gate (MUTATE_ARGS="--min-score 80" gates, "--sample 50" shortens, "--json mutation.json" keeps the data).
MUTATE_MODULES ?= $(shell grep -v '^\#' tools/mutation-targets.txt)
MUTATE_TESTS ?= tests/unit
# The build-script test builds kube-apiserver on a cold cache (minutes) and exercises no decision module.
MUTATE_PYTEST_ARGS ?= --ignore=tests/unit/test_build_script.py
MUTATE_ARGS ?= --show-survivors
mutation: $(STAMP)
	$(BIN)/python tools/mutate.py $(MUTATE_MODULES) --tests $(MUTATE_TESTS) --pytest-args='$(MUTATE_PYTEST_ARGS)' $(MUTATE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check operator tests tools
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
