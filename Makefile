# driftline: the two commands of the quick start are `make demo` and `make test`.
# Both build the virtual environment from nothing (Python 3.11+ and make are enough).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Offline by default: no telemetry from Evidently, MLflow or Prefect.
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: demo test test-all lint format bench clean setup

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## The end-to-end demo on embedded defaults (SQLite, local MLflow, temporary Prefect).
demo: $(STAMP)
	$(BIN)/driftline demo

## Lint, then the whole test suite. PostgreSQL tests run when
## DRIFTLINE_TEST_DATABASE_URL is set (CI sets it) and skip with a reason otherwise.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo 'pytest: no tests collected'; rc=0; fi; exit $$rc

## Every test, the slow end-to-end ones included (about twice as long as `make test`).
test-all: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -m 'slow or not slow'

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .driftline .pytest_cache .ruff_cache
