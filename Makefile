# The two commands of the README: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: run test test-scaleout lint typecheck pytest migrate seed bench clean sandbox-deps browser-deps netns-deps cli-deps mutation

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "StrategyHub needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt $(VENV)/.deps
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

# A local .env for development: DEBUG on and a random secret, written once and never committed.
.env:
	@$(PYTHON) -c 'import secrets, pathlib; text = pathlib.Path(".env.example").read_text(); \
	text = text.replace("DEBUG=0", "DEBUG=1").replace("SECRET_KEY=", "SECRET_KEY=" + secrets.token_urlsafe(48), 1); \
	pathlib.Path(".env").write_text(text)'
	@echo "wrote .env (DEBUG=1, a fresh SECRET_KEY); edit it to point at Postgres/Redis or real venues"

# bubblewrap for the strategy sandbox (apt-get, only when missing); see docs/sandbox.md.
sandbox-deps:
	@bash scripts/install-sandbox-deps.sh

# htmx and lightweight-charts: `npm ci` (integrity-checked against package-lock.json), copied to static/vendor/.
static/vendor/.installed: package.json package-lock.json scripts/vendor-static.sh
	@bash scripts/vendor-static.sh
	@touch $@

# Debian's chromium for the browser tests (apt-get, only when missing).
browser-deps:
	@bash scripts/install-browser-deps.sh

# curl and jq for the test that runs docs/api.md's curl walkthrough (apt-get, only when missing).
cli-deps:
	@bash scripts/install-cli-deps.sh

# iproute2 and util-linux for the scale-out test's worker hosts in namespaces (apt-get, only when missing).
netns-deps:
	@bash scripts/install-netns-deps.sh

migrate: $(VENV)/.deps .env
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# The stack starts the embedded PostgreSQL (DATABASE_URL unset), migrates and seeds the demo, then every process.
run: $(VENV)/.deps .env sandbox-deps static/vendor/.installed
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) -m strategyhub.stack

# ruff; the layers (import-linter, contracts in pyproject.toml); dead code (vulture, vulture_whitelist.py);
# no venue's name compared as a literal outside trading/venues (scripts/lint_venue_literals.py).
lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/vulture
	$(PY) scripts/lint_venue_literals.py

typecheck: $(VENV)/.dev-deps
	$(BIN)/mypy .

PYTEST_ARGS ?=

pytest: $(VENV)/.dev-deps sandbox-deps browser-deps netns-deps cli-deps static/vendor/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

# Speed, printed as tables beside their comparisons; never asserted in tests (shared, noisy machines).
bench: $(VENV)/.dev-deps sandbox-deps
	$(PY) benchmarks/bench_venues.py
	$(PY) benchmarks/bench_sandbox.py
	$(PY) benchmarks/bench_warm.py
	$(PY) benchmarks/bench_zygote.py
	$(PY) benchmarks/bench_seccomp.py
	$(PY) benchmarks/bench_fork.py
	$(PY) benchmarks/bench_money.py
	$(PY) benchmarks/bench_money_views.py
	$(PY) benchmarks/bench_backtest.py
	$(PY) benchmarks/bench_sweep.py
	$(PY) benchmarks/bench_copy_trader.py
	$(PY) benchmarks/bench_dashboard.py
	$(PY) benchmarks/bench_first_deploy.py
	$(PY) benchmarks/bench_market_words.py
	$(PY) benchmarks/bench_mcp_tools.py
	$(PY) benchmarks/bench_http.py
	@if echo "$$DATABASE_URL" | grep -q '^postgres' && [ -n "$$REDIS_URL" ]; then \
		$(PY) benchmarks/bench_cycle_cpu.py; \
		$(PY) benchmarks/bench_schedule.py --sweep 1500,2000,3000; \
		$(PY) benchmarks/bench_api.py; \
	else echo "bench_cycle_cpu, bench_schedule, bench_api: skipped, they need DATABASE_URL=postgres://… and REDIS_URL (each creates its own database)"; fi

test: lint typecheck pytest

# The scale-out test alone (it is also part of `make test`): two worker hosts in network namespaces, as root.
test-scaleout: $(VENV)/.dev-deps sandbox-deps netns-deps
	$(BIN)/pytest -m scaleout tests/faults/test_scaleout.py

# Mutation testing of the money modules (docs/money.md): mutmut, one module at a time with that module's tests,
# the score per module. `make mutation MUTATION_ARGS=trading/fees.py` for one; Postgres modules need helper.env.
mutation: $(VENV)/.dev-deps
	$(PY) scripts/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) var mutants .mypy_cache .ruff_cache .pytest_cache .import_linter_cache node_modules static/vendor
