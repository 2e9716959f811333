# Two commands for a fresh machine with Python 3.11+, git and make:
#   make run    set everything up, then serve the app with a worker (embedded Redis and sandbox provider by default)
#   make test   set everything up, then lint and run unit, integration and end-to-end tests

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV)/bin)
INSTALLED := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PORT ?= 8000

# A development-only signing secret, so "Send a test webhook" works out of the box; set your own for Stripe.
# Production refuses it (handoff/settings.py).
DEV_STRIPE_WEBHOOK_SECRET := whsec_handoff_development_only

.PHONY: run test lint unit integration e2e chaos bench chromium promtool install lock clean

install: $(INSTALLED)

# From the lock file, every package checked against its hash; then the project itself, without dependencies.
$(INSTALLED): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# The lock files, from pyproject.toml's pins: requirements.txt is production's (Heroku installs it), the others
# add the development and benchmark tools. Run after changing a dependency, and commit all three.
UV_VERSION := 0.13.9
LOCK := $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --universal --python-version 3.11
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(LOCK) --output-file requirements.txt
	$(LOCK) --extra dev --output-file requirements-dev.txt
	$(LOCK) --extra dev --extra bench --output-file requirements-bench.txt

# Debian's Chromium: Playwright's own browser downloads are not possible everywhere.
chromium:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM) || { echo "Chromium is missing at $(CHROMIUM); install Debian's chromium package." >&2; exit 1; }

# promtool, from Debian's prometheus package: the metrics tests check a real scrape with `promtool check metrics`.
promtool:
	@command -v promtool >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

# The embedded Redis starts where no REDIS_URL is given, the sandbox wherever a provider would fall back to it.
run: install
	@echo "Handoff: open http://127.0.0.1:$(PORT)  (Ctrl-C stops everything)"
	export PATH="$(BIN):$$PATH" PORT=$(PORT) STRIPE_WEBHOOK_SECRET="$${STRIPE_WEBHOOK_SECRET:-$(DEV_STRIPE_WEBHOOK_SECRET)}" \
		&& processes="$$(python -m devtools.run_processes)" && honcho start -f Procfile.dev $$processes

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

unit: install
	$(BIN)/pytest tests/unit

integration: install promtool
	PATH="$(BIN):$$PATH" $(BIN)/pytest -m integration tests

e2e: install chromium
	PATH="$(BIN):$$PATH" CHROMIUM=$(CHROMIUM) $(BIN)/pytest -m e2e e2e

test: install chromium promtool lint
	PATH="$(BIN):$$PATH" CHROMIUM=$(CHROMIUM) $(BIN)/pytest

# Kills workers and restarts Redis under load; part of `make test` at 60 jobs, CHAOS_JOBS=1000 make chaos for more.
chaos: install
	PATH="$(BIN):$$PATH" $(BIN)/pytest -m chaos tests/reliability -s -q

# Benchmarks: out of the test run; their README has the commands and the results (about 10 minutes: bench.run and
# bench.webhook_ack about 6, bench.ops_console 3 to 5).
BENCH_INSTALLED := $(VENV)/.installed-bench
$(BENCH_INSTALLED): $(INSTALLED) requirements-bench.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements-bench.txt
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null; }
	touch $@

bench: $(BENCH_INSTALLED)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.webhook_ack
	$(BIN)/python -m bench.ops_console

clean:
	rm -rf $(VENV) .data .test-results .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
