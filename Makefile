# EdgeLab developer entry points. `make lab` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
PYPROJECTS := pyproject.toml requirements-dev.txt inventory-app/pyproject.toml edge-cache/pyproject.toml edgelab/pyproject.toml
PYTEST_ARGS ?=

.PHONY: setup system-deps lab test lint bench jupyter serve clean help

help:
	@echo "make lab      run the whole lab on the local target (embedded default, no cluster)"
	@echo "make test     lint, type-check and run every test (installs what it needs)"
	@echo "make bench    benchmarks: inventory-app latency, edge-cache vs nginx"
	@echo "make lint     ruff + mypy"
	@echo "make jupyter  JupyterLab on notebooks/ with the project's kernel"
	@echo "make serve    only the inventory app with demo data"
	@echo "make setup    create .venv and install all packages (editable) and dev tools"

setup: $(STAMP)

$(STAMP): $(PYPROJECTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e inventory-app -e edge-cache -e edgelab -r requirements-dev.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name edgelab --display-name "EdgeLab (Python 3)" >/dev/null
	@touch $(STAMP)

system-deps:
	@scripts/install-system-deps

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy inventory-app/src edge-cache/src edgelab/src

test: setup system-deps lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lab: setup
	@scripts/run-lab

serve: setup
	@scripts/serve-app

bench: setup system-deps
	$(BIN)/edgelab bench

jupyter: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
