# The two commands: `make run` and `make test`. Everything else is what they call.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
export FLASK_APP := wsgi

.PHONY: run test setup translations db serve lint test-sqlite test-postgres test-browser bench clean

## run: set up everything (virtualenv, packages, database, demo data) and serve with the scheduler
run: setup translations db serve

## test: lint, the suite on SQLite, again on PostgreSQL, then the browser tests
test: setup translations lint test-sqlite test-postgres test-browser

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.installed

translations: setup
	@$(VENV)/bin/pybabel compile -d crm/translations

## i18n: re-extract the source strings into messages.pot and merge them into every catalog; then translate zh_CN
.PHONY: i18n
i18n: setup
	@tmp=$$(mktemp) && trap 'rm -f "$$tmp"' EXIT && \
	$(VENV)/bin/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 --no-location --sort-output \
		--project=招商通 -o "$$tmp" . && \
	{ diff -q -I '^"POT-Creation-Date:' "$$tmp" crm/translations/messages.pot >/dev/null \
		|| cp "$$tmp" crm/translations/messages.pot; }
	$(VENV)/bin/pybabel update -i crm/translations/messages.pot -d crm/translations \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date

db: setup
	$(FLASK) db upgrade
	$(FLASK) crm load-territories
	$(FLASK) crm demo --if-empty

serve:
	@echo "招商通: http://$(HOST):$(PORT)  (Ctrl-C stops the web server and the scheduler)"
	@trap 'trap - INT TERM EXIT; kill 0 2>/dev/null' INT TERM EXIT; \
	$(FLASK) crm scheduler & \
	$(VENV)/bin/gunicorn --workers $(WORKERS) --bind $(HOST):$(PORT) --access-logfile - wsgi:app & \
	wait -n

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-sqlite: setup translations
	$(PY) -m pytest -m "not browser" -p no:cacheprovider

test-postgres: setup translations
	$(PY) -m tests.pgcluster -- $(PY) -m pytest -m "not browser" -p no:cacheprovider

test-browser: setup translations
	$(PY) -m pytest -m browser -p no:cacheprovider tests/browser

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
