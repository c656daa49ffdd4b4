# The README's two commands: `make run` and `make test`. Everything installs into the project
# (.venv/, node_modules/, static/vendor/); nothing global but Debian's Chromium for browser tests.

PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := static/vendor
ASSETS := $(VENDOR)/htmx.min.js $(VENDOR)/tokens.css

# Development defaults for `make run` (override on the command line or in the environment).
PAPERLESS_ENV ?= development
PAPERLESS_AUTH ?= dev
RUN_ENV := PAPERLESS_ENV=$(PAPERLESS_ENV) PAPERLESS_AUTH=$(PAPERLESS_AUTH)
# `make test` spreads the suite over every core (pytest-xdist); TEST_WORKERS=0 runs it in one process.
# Narrow it with PYTEST_ARGS, e.g. make test PYTEST_ARGS="tests/test_sheets.py -k submit" TEST_WORKERS=0
TEST_WORKERS ?= auto

.PHONY: run test install assets migrate demo lint check clean bench mutate

run: install
	$(RUN_ENV) $(BIN)/paperless migrate
	$(RUN_ENV) $(BIN)/paperless demo --if-empty
	$(RUN_ENV) $(BIN)/paperless serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/ruff check app tests bench
	$(BIN)/lint-imports --no-cache
	bash scripts/ensure-chromium.sh
	if [ -n "$$PAPERLESS_TEST_POSTGRES_URL" ]; then bash scripts/ensure-pg-client.sh; fi
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

install: $(STAMP) assets

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

assets: $(ASSETS)

$(VENDOR)/htmx.min.js: node_modules/.package-lock.json
	mkdir -p $(VENDOR) && cp node_modules/htmx.org/dist/htmx.min.js $@

$(VENDOR)/tokens.css: node_modules/.package-lock.json
	mkdir -p $(VENDOR) && cp node_modules/@digital-go-jp/design-tokens/dist/tokens.css $@

migrate: install
	$(RUN_ENV) $(BIN)/paperless migrate

# Deadline-day load (by hand, not in CI): make bench DB=sqlite|postgres [BENCH_ARGS="--duration 60"]
DB ?= sqlite
bench: install
	$(BIN)/python bench/load.py --db $(DB) $(BENCH_ARGS)

# Mutation testing (by hand, not in CI; docs/testing.md): mutmut changes app/scoring/rules.py,
# app/auth/permissions.py and app/sheets/writer.py one mutant at a time and runs the tests that cover each
# ([tool.mutmut] in pyproject.toml). Work happens in mutants/ (git-ignored); a second run resumes.
# MUTATE_CHILDREN: parallel mutants (default: one per core).
MUTATE_CHILDREN ?= $(shell nproc)
mutate: install
	$(BIN)/mutmut run --max-children $(MUTATE_CHILDREN)
	$(BIN)/mutmut results

lint: install
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) node_modules $(VENDOR)
