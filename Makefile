# Two commands on a fresh machine: `make run` (the whole embedded stack) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint install clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Azurite (a real Azure Blob endpoint for the content-store tests), from npm.
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP)

## Temporal dev server (UI :8233) + worker + API (:8000, Swagger at /docs); Ctrl-C stops all three.
## Development mode: the built-in JWT secret is accepted here, and only here.
run: export ENVIRONMENT ?= development
run: $(STAMP)
	$(PY) -m worker.cli migrate
	exec $(PY) -m worker.embedded

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

## Lint, type-check, layer rules, then the whole suite on real PostgreSQL and real Temporal,
## over TEST_WORKERS processes (each with its own databases and Temporal servers; 0: in this one).
TEST_WORKERS ?= 2
test: lint $(NODE_STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
