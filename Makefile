# The two commands a new user needs: `make demo` and `make test`. Both work on a fresh machine
# with only Python 3.11: they create .venv when it is missing and install into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo docs test quick lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Runs (or resumes) the offline demo study into ./hpsearch.db, writes report.html, prints the
# verdicts and how to look further. A second run finds every cell finished and takes seconds.
demo: $(STAMP)
	$(BIN)/hpsearch run studies/demo.toml --storage sqlite:///hpsearch.db
	$(BIN)/hpsearch report demo --storage sqlite:///hpsearch.db --out report.html
	$(BIN)/hpsearch show demo --storage sqlite:///hpsearch.db
	@echo ""
	@echo "Report:          report.html (self-contained; open it in any browser, offline)"
	@echo "Live dashboard:  $(BIN)/hpsearch dashboard   then open http://127.0.0.1:8050"
	@echo "CSV export:      $(BIN)/hpsearch export demo --out exports/"

# Re-runs the demo study of the current code and regenerates what the README quotes from it:
# docs/demo-verdicts.csv, docs/demo-run.json, docs/dashboard.png and "What the demo finds".
docs: $(STAMP)
	$(BIN)/python docs/make_docs.py

# The whole suite on two workers (pytest-xdist; a file's tests stay on one worker, so a module's
# fixtures start once, and each worker has its own PostgreSQL and Ray): while one waits on Ray or
# a subprocess, the other computes.
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

# The inner loop: everything but what is marked slow, Ray or browser.
quick: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow and not ray and not browser"

lint: $(STAMP)
	$(BIN)/ruff check hpsearch dashboards tests benchmarks docs
	$(BIN)/ruff format --check hpsearch dashboards tests benchmarks docs
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build dist .pytest_cache
