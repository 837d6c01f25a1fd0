# EdgeLab developer entry points. `make lab` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
PYPROJECTS := pyproject.toml requirements-dev.txt inventory-app/pyproject.toml edge-cache/pyproject.toml edgelab/pyproject.toml
PYTEST_ARGS ?=
# two workers fit the two cores of the lab and CI machines; a test file stays on one worker
# (module fixtures are built once); `make test PYTEST_WORKERS=0` runs serially
PYTEST_WORKERS ?= 2
PYTEST_XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),-p no:xdist,-n $(PYTEST_WORKERS) --dist loadfile)

.PHONY: setup system-deps lab lab-zh test test-fast lint bench jupyter serve clean help

help:
	@echo "make lab      run the whole lab on the local target (embedded default, no cluster)"
	@echo "make lab-zh   the same with the 简体中文 notebooks (edgelab check --lang zh-CN)"
	@echo "make test     lint, type-check and run every test (installs what it needs)"
	@echo "make test-fast  the tests without the slow end-to-end and browser ones (local work)"
	@echo "make bench    benchmarks: inventory-app latency, edge-cache vs nginx, web page render time"
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
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest $(PYTEST_XDIST) -m "not slow and not browser" $(PYTEST_ARGS)

lab: setup system-deps
	@scripts/run-lab

lab-zh: setup
	@scripts/run-lab --lang zh-CN

serve: setup
	@scripts/serve-app

bench: setup system-deps
	$(BIN)/edgelab bench

jupyter: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
