# Two entry points: `make run` serves the CRM with demo data; `make test` lints and runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test fuzz lint format clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(RUNTIME_STAMP)

# With DEBUG off (as `make run` serves) the web and worker processes refuse the built-in SECRET_KEY
# (core.checks), so unless SECRET_KEY is exported, run, test and bench use a random key made once for
# this clone in .local/secret_key (ignored by git).
LOCAL_SECRET_KEY := .local/secret_key

$(LOCAL_SECRET_KEY):
	$(PYTHON) scripts/local_secret_key.py $@ >/dev/null

run test bench: export SECRET_KEY ?= $(shell cat $(LOCAL_SECRET_KEY) 2>/dev/null)

run: $(RUNTIME_STAMP) $(LOCAL_SECRET_KEY)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	@echo "Serving the admin on http://127.0.0.1:8000/admin/ and the API on http://127.0.0.1:8000/api/docs/"
	$(BIN)/python manage.py runserver 127.0.0.1:8000

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(LOCAL_SECRET_KEY) lint
	$(BIN)/python manage.py makemigrations --check --dry-run --verbosity 1
	scripts/run-tests.sh

# schemathesis against the OpenAPI schema as each company's user and a super admin (CI runs it after
# `make test`; docs/SECURITY.md, "Fuzzing").
fuzz: $(DEV_STAMP)
	CRM_FUZZ=1 scripts/run-tests.sh tests/test_fuzz.py

# Benchmarks on PostgreSQL (docs/BENCHMARKS.md): `make bench`, or `make bench BENCH=lists BENCH_ARGS=--smoke`.
bench: $(DEV_STAMP) $(LOCAL_SECRET_KEY)
	$(BIN)/python -m bench $(BENCH) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .pgtest
