# CityOps: `make setup` once, then `make run` or `make test`. Every target uses .venv/bin/python
# directly, so nothing depends on an activated virtualenv.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
PYTEST_ARGS ?=
TESTS ?= tests
PYTEST := $(PY) -m pytest -q -ra $(PYTEST_ARGS)
SERVICE_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard services/*/pyproject.toml))

.PHONY: help setup protos kafka-jars run devstack test test-unit test-integration test-e2e lint bench bench-smoke helm-check images clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

setup: $(VENV)/.stamp-editable protos kafka-jars  ## venv, dependencies, local packages, protobuf code, Kafka jars
	@echo "setup xong / done"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamps make a second `make setup` take seconds: pip runs only when its inputs changed.
$(VENV)/.stamp-requirements: requirements.txt | $(PY)
	$(PIP) install -r requirements.txt
	@touch $@

$(VENV)/.stamp-editable: $(VENV)/.stamp-requirements libs/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(PIP) install -e libs $(addprefix -e ,$(SERVICE_DIRS))
	@touch $@

protos: | $(PY)  ## generate protobuf/gRPC code from protos/ into libs/src/cityops/
	@if [ -f scripts/gen_protos.py ]; then \
		$(PY) scripts/gen_protos.py; \
	else \
		echo "CẢNH BÁO / WARNING: scripts/gen_protos.py chưa có / is missing; protos skipped" >&2; \
	fi

kafka-jars: | $(PY)  ## fetch the Kafka broker jars with Maven (cached in .cache/kafka-libs)
	@$(PY) -m cityops_platform.devstack fetch-jars >/dev/null

run:  ## start the whole city locally (devstack + services)
	$(VENV)/bin/cityops up

devstack:  ## only Kafka + Postgres, in the foreground (Ctrl-C stops them)
	$(PY) -m cityops_platform.devstack up --run-dir .run/devstack

test:  ## every test: unit, integration, e2e (or TESTS=path, PYTEST_ARGS=...)
	$(PYTEST) $(TESTS)

test-unit:
	$(PYTEST) tests/unit

test-integration:
	$(PYTEST) tests/integration

test-e2e:
	$(PYTEST) tests/e2e

.PHONY: test-faults
test-faults:  ## fault injection (kills, partitions, poison) + Jepsen-style checker; prints the figures
	$(PYTEST) -p no:logging tests/faults

lint:  ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy libs/src $(wildcard services/*/src)

bench:  ## benchmark of the real-time core on this machine (BENCH_ARGS=--smoke, --surge-rate 50, --help)
	$(PY) -m loadtests.bench $(BENCH_ARGS)

bench-smoke:  ## CI smoke of the bench harness and a 20-s Locust run (not a benchmark)
	$(PYTEST) tests/integration/loadtests

helm-check:  ## render and validate the Helm chart
	bash helm/check.sh

images:  ## build every container image with buildah (debootstrap base, cached in .cache/images)
	bash scripts/build_images.sh

clean:  ## remove run state and caches (keeps .venv and the Kafka jars in .cache)
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts results
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
