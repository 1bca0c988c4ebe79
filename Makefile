# Two entry points for a fresh machine (Python 3.11+, make, a C compiler): `make demo`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= .demo

.PHONY: install lint test demo bench-train clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts trainer service

test: lint
	$(BIN)/pytest -n 2 -q

# Synthesise a log, train on it and publish a version into $(DEMO_DIR)/artifacts.
demo: install
	mkdir -p $(DEMO_DIR)
	$(BIN)/python -m trainer synth --out $(DEMO_DIR)/events.csv
	$(BIN)/python -m trainer train --events $(DEMO_DIR)/events.csv --artifacts $(DEMO_DIR)/artifacts

bench-train: install
	$(BIN)/python bench/train_throughput.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
