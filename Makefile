# Two entry points for a fresh machine (Python 3.11+, make, a C compiler): `make demo`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= .demo

.PHONY: install lint test demo promtool browser bench-train clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts trainer service demo client

test: lint
	$(BIN)/pytest -n 2 -q

# Train on synthetic events, start Redis (REDIS_URL, else an embedded redis-server) and the
# service on PORT (default 8000), print a sample answer for demo-user, serve until Ctrl-C (demo/).
demo: install
	DEMO_DIR=$(DEMO_DIR) $(BIN)/python -m demo

# promtool (Prometheus' rule checker) for tests/deploy, unpacked from Debian's prometheus package
# without installing or starting the server. .ci/run installs it; elsewhere its test is skipped.
promtool: $(BIN)/promtool

$(BIN)/promtool: | $(STAMP)
	tmp=$$(mktemp -d) && cd $$tmp && apt-get download -q prometheus \
	  && dpkg-deb -x prometheus_*.deb root && cp root/usr/bin/promtool $(abspath $(BIN))/promtool \
	  && rm -rf $$tmp

# Chromium for the inspector's browser test (tests/service/test_inspector_browser.py), from
# Debian's package: Playwright (dev extra) drives it and downloads no browser of its own.
# .ci/run installs it; elsewhere that test is skipped.
browser:
	command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

bench-train: install
	$(BIN)/python bench/train_throughput.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
