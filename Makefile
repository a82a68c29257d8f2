# The two commands a new user needs: `make demo` and `make test`. Both work on a fresh machine
# with only Python 3.11: they create .venv when it is missing and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m hpsearch demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check hpsearch dashboards tests benchmarks
	$(BIN)/ruff format --check hpsearch dashboards tests benchmarks

clean:
	rm -rf $(VENV) build dist .pytest_cache
