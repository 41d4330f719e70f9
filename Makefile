# The same commands run here and in CI (.ci/run calls `make test`).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Installs are redone only when pyproject.toml changes.
STAMP_LAB  := $(VENV)/.installed-lab
STAMP_TEST := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: lab test lint typecheck pytest doctor bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_LAB): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	@touch $@ $(STAMP_LAB)

lab: $(STAMP_LAB)  ## open JupyterLab on notebooks/ (embedded PostgreSQL by default)
	$(BIN)/nexus-workbook lab

lint: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP_TEST)
	$(BIN)/mypy

pytest: $(STAMP_TEST)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest  ## everything CI runs

doctor: $(STAMP_LAB)
	$(BIN)/nexus-workbook doctor

bench: $(STAMP_LAB)
	$(BIN)/nexus-workbook bench --json benchmarks/results/startup.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
