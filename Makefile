# The two commands: `make dev` (local sandbox) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint bench controlplane clean mutation chaos

# Hash-locked requirements (`make lock` regenerates them from pyproject.toml): dev.lock is what the venv,
# hence CI, installs (runtime + dev tools + the build backend); runtime.lock and build.lock are the
# image's (Dockerfile), and each is a subset of dev.lock's pins.
DEV_LOCK := requirements/dev.lock
RUNTIME_LOCK := requirements/runtime.lock
BUILD_LOCK := requirements/build.lock

# The venv holds exactly the dev lock, hash-checked; then the package itself, editable, with nothing resolved
# (--no-deps) and its build backend (setuptools) taken from the lock (--no-build-isolation).
$(STAMP): $(DEV_LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## Regenerate the three lock files from pyproject.toml (pip-tools, pinned, in a venv of its own). Existing
## pins are kept where the ranges allow; `make lock LOCK_ARGS=--upgrade` moves every pin to the newest.
LOCK_VENV := .venv-lock
PIP_TOOLS := pip-tools==7.6.2
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
.PHONY: lock
lock: $(LOCK_VENV)/.installed
	$(PIP_COMPILE) --extra dev --all-build-deps --output-file $(DEV_LOCK) pyproject.toml
	$(PIP_COMPILE) --constraint $(DEV_LOCK) --output-file $(RUNTIME_LOCK) pyproject.toml
	$(PIP_COMPILE) --constraint $(DEV_LOCK) --all-build-deps --only-build-deps --output-file $(BUILD_LOCK) pyproject.toml

$(LOCK_VENV)/.installed:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet '$(PIP_TOOLS)'
	touch $@

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

## The whole test suite (unit, API, end to end, reliability) on a real control plane, then the default chaos run
## (its figures and summary lines end the output; it runs even when pytest failed, and either failing fails
## `make test`). Picking a layer with `PYTEST_ARGS` skips the chaos run.
test: $(STAMP) controlplane
	$(BIN)/python -m pytest $(PYTEST_ARGS); pytest=$$?; \
	$(if $(PYTEST_ARGS),exit $$pytest,$(BIN)/python -m tests.chaos $(CHAOS_ARGS) && exit $$pytest)

## Chaos scenarios on the real control plane, emulator and operator (README, "Chaos runs"): one figures line per
## scenario and a summary; fails on any duplicate, orphan or unconverged object. E.g. `make chaos CHAOS_ARGS=--long`
## or `CHAOS_ARGS="--scenario kill-storm --seed 7"`.
chaos: $(STAMP) controlplane
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

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
	$(BIN)/hadolint --failure-threshold style Dockerfile

clean:
	rm -rf $(VENV) $(LOCK_VENV) .pytest_cache .mypy_cache .ruff_cache
