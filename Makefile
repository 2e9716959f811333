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

# Start the embedded Redis only where no REDIS_URL is given, the sandbox only where no Mailchimp key is.
RUN_PROCESSES := web worker $(if $(REDIS_URL),,redis) $(if $(MAILCHIMP_API_KEY),,sandbox)
# A development-only signing secret, so "Send a test webhook" works out of the box; set your own for Stripe.
DEV_STRIPE_WEBHOOK_SECRET := whsec_handoff_development_only

.PHONY: run test lint unit integration e2e chaos bench chromium install clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Debian's Chromium: Playwright's own browser downloads are not possible everywhere.
chromium:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM) || { echo "Chromium is missing at $(CHROMIUM); install Debian's chromium package." >&2; exit 1; }

run: install
	@echo "Handoff: open http://127.0.0.1:$(PORT)  (Ctrl-C stops everything)"
	PATH="$(BIN):$$PATH" PORT=$(PORT) STRIPE_WEBHOOK_SECRET="$${STRIPE_WEBHOOK_SECRET:-$(DEV_STRIPE_WEBHOOK_SECRET)}" \
		$(BIN)/honcho start -f Procfile.dev $(RUN_PROCESSES)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

unit: install
	$(BIN)/pytest tests/unit

integration: install
	PATH="$(BIN):$$PATH" $(BIN)/pytest -m integration tests

e2e: install chromium
	PATH="$(BIN):$$PATH" CHROMIUM=$(CHROMIUM) $(BIN)/pytest -m e2e e2e

test: install chromium lint
	PATH="$(BIN):$$PATH" CHROMIUM=$(CHROMIUM) $(BIN)/pytest

# Kills workers and restarts Redis under load; part of `make test` at 60 jobs, CHAOS_JOBS=1000 make chaos for more.
chaos: install
	PATH="$(BIN):$$PATH" $(BIN)/pytest -m chaos tests/reliability -s -q

# Benchmarks: out of the test run; their README has the commands and the results (about 10 minutes: bench.run and
# bench.webhook_ack about 6, bench.ops_console 3 to 5).
BENCH_INSTALLED := $(VENV)/.installed-bench
$(BENCH_INSTALLED): $(INSTALLED)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk >/dev/null; }
	touch $@

bench: $(BENCH_INSTALLED)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.webhook_ack
	$(BIN)/python -m bench.ops_console

clean:
	rm -rf $(VENV) .data .test-results .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
