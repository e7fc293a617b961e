# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test check lint types layers unit bench bench-peers install install-dev clean clean-numba

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

## Install and run the demo on the embedded default.
demo: install
	$(BIN)/coinbt demo

## Install and pass every check: lint, format, types, layer contract, tests.
test: install-dev clean-numba check

check: lint types layers unit

lint:
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

types:
	$(BIN)/mypy

layers:
	$(BIN)/lint-imports

unit:
	$(BIN)/python -m pytest -q

## Benchmarks (peers optional: `make bench-peers` installs vectorbt and backtesting.py).
bench: install-dev
	$(BIN)/python benchmarks/bench_engine.py

bench-peers: install-dev
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_engine.py

## numba keys its on-disk cache on each kernel's own file only: after editing a kernel that
## others call from another module, drop the cache so no caller keeps the old code.
clean-numba:
	find src -name "*.nbi" -delete -o -name "*.nbc" -delete

clean: clean-numba
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
