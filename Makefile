# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DATABASE_URL ?= sqlite:///./data/tutor.db
export HOST PORT DATABASE_URL

.PHONY: run test install install-test lint audit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/tutor migrate
	$(BIN)/tutor cards load
	$(BIN)/tutor serve --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy

# Known vulnerabilities in the installed (pinned) dependencies, from PyPI's advisory data: a vulnerability found
# fails the audit. A package the index cannot look up is listed as not audited; AUDIT_FLAGS=--strict fails on
# those too, where the advisory service is reachable for every package.
AUDIT_FLAGS ?=
audit: install-test
	$(BIN)/pip-audit --skip-editable --progress-spinner off $(AUDIT_FLAGS)

test: lint
	$(BIN)/pytest -n auto

bench: install-test
	$(BIN)/python bench/divergence.py
	@command -v wrk >/dev/null || { echo "bench/load.py needs wrk: apt-get install -y wrk"; exit 1; }
	$(BIN)/python bench/load.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/growth.py
	$(BIN)/python bench/regrade.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
