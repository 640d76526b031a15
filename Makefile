# Sổ Sức Khỏe. The two commands that matter: `make run` and `make test` (see README.md).

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: install run test check messages migration clean

## Create .venv (Python 3.11) and install the project with its dev and test extras. Idempotent.
install: $(STAMP)

$(STAMP): pyproject.toml
	@[ -n "$(PYTHON)" ] || { echo "make: Python 3.11 not found (install python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
		|| { echo "make: $(PYTHON) is not Python 3.11"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,test]'
	@touch $(STAMP)

## Set up and serve with demo data: embedded PostgreSQL unless DATABASE_URL is set. Ctrl-C stops it all.
run: install
	exec $(BIN)/healthbook run

## Every test: unit, integration against real PostgreSQL, browser (Chromium).
test: install
	@[ -x $(CHROMIUM) ] || echo "make test: $(CHROMIUM) not found, browser tests are skipped (apt-get install chromium)"
	@command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] \
		|| echo "make test: pgbouncer not found, the transaction-pooling test is skipped (apt-get install pgbouncer)"
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
		if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests; that is not a pass"; fi; \
		exit $$status

## Lint, format and type checks (CI runs them too).
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Re-extract translatable strings into the Vietnamese catalogue (then translate the new ones).
messages: install
	@mkdir -p var
	$(BIN)/pybabel extract -F backend/i18n/babel.cfg -k N_ --no-location --omit-header -o var/messages.pot .
	$(BIN)/pybabel update -i var/messages.pot -d backend/i18n -D messages -l vi \
		--no-fuzzy-matching --ignore-obsolete

## A new migration from the models: make migration m="what changed"
migration: install
	@[ -n "$(m)" ] || { echo 'make: say what changed: make migration m="add facility table"'; exit 1; }
	$(BIN)/healthbook db revision -m "$(m)"

## Remove the virtualenv and local data (the embedded database under var/ included).
clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
