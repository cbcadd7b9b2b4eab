# Two entry points on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install system node demo test test-lowest lint typecheck pytest docs docs-serve bench clean

help:
	@echo "make demo   - set up and serve the demo at http://127.0.0.1:8000"
	@echo "make test   - set up and run ruff, mypy, pyright, pytest and mkdocs --strict"
	@echo "make test-lowest - run pytest on the lowest dependency versions pyproject.toml allows"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	@touch $(STAMP)

install: $(STAMP)

# System parts the end-to-end tests use: Debian's chromium for browser tests, Node.js and npm
# for the TypeScript tests, nginx for the reverse-proxy tests. Installed with apt when missing
# and we are root; otherwise those tests skip loudly (and fail under CI=true). nginx lives in
# /usr/sbin, which is not on every user's PATH.
SYSTEM_PACKAGES = $(if $(shell command -v chromium),,chromium) $(if $(shell command -v npm),,nodejs npm) \
	$(if $(shell PATH="$$PATH:/usr/sbin" command -v nginx),,nginx)

system:
	@if [ -z "$(strip $(SYSTEM_PACKAGES))" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's $(strip $(SYSTEM_PACKAGES)) for the end-to-end tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	else echo "WARNING: $(strip $(SYSTEM_PACKAGES)) missing and cannot apt-get install them; their tests will skip"; fi

demo: $(STAMP)
	$(BIN)/python -m typedsse demo --host 127.0.0.1 --port 8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/pyright
	$(BIN)/pyright -p tests/type_tests/pyrightconfig.json

NPM_STAMP := tests/ts/node_modules/.package-lock.json

# Node packages of the TypeScript tests (tsc), pinned by tests/ts/package-lock.json.
$(NPM_STAMP): tests/ts/package.json tests/ts/package-lock.json | system
	@if command -v npm >/dev/null 2>&1; then cd tests/ts && npm ci --no-audit --no-fund --loglevel=error; \
	else echo "WARNING: npm missing; the TypeScript tests will skip (and fail under CI=true)"; fi

node: $(NPM_STAMP)

pytest: $(STAMP) system node
	$(BIN)/python -m pytest

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	$(BIN)/mkdocs serve

test: lint typecheck pytest docs

# The suite on the lower bounds of the runtime dependencies, in a venv of its own built from
# scratch whenever pyproject.toml or constraints/lowest.txt changes: every package is pinned
# there, so each run tests the same versions. On the oldest supported Python as well, which the
# pins need: Pydantic 2.7's core has no wheels for Python 3.13.
LOWEST_PYTHON ?= python3.11
LOWEST_VENV := .venv-lowest
LOWEST_STAMP := $(LOWEST_VENV)/.installed

$(LOWEST_STAMP): pyproject.toml constraints/lowest.txt
	@command -v $(LOWEST_PYTHON) >/dev/null || { echo "make test-lowest needs Python 3.11 as $(LOWEST_PYTHON) (set LOWEST_PYTHON)"; exit 1; }
	rm -rf $(LOWEST_VENV)
	$(LOWEST_PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet --constraint constraints/lowest.txt -e '.[dev,docs]'
	@touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP) system node
	$(LOWEST_VENV)/bin/python -m pytest -p no:cacheprovider

BENCH_STAMP := $(VENV)/.installed-bench

# The second stack of the suite runs uvicorn on uvloop and httptools: the `bench` extra.
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(LOWEST_VENV) tests/ts/node_modules site .mypy_cache .ruff_cache .pytest_cache .hypothesis
