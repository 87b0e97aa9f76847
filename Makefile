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

.PHONY: help setup system-packages lock protos kafka-jars run devstack test test-unit test-unit-py313 test-integration test-e2e screenshots test-faults lint bench bench-smoke helm-check images clean

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

# Progress for a person: one line per step.
step = @printf '\n▶ %s\n' $(1)

setup:  ## everything a fresh Debian 12 needs: system packages, .venv, locked deps, protobuf code, Kafka jars
	$(call step,"[1/5] gói hệ thống (system packages)")
	@PYTHON=$(PYTHON) bash scripts/system_packages.sh
	$(call step,"[2/5] .venv + phụ thuộc đã khóa (locked dependencies: requirements.lock)")
	@$(MAKE) --no-print-directory $(VENV)/.stamp-editable
	$(call step,"[3/5] mã protobuf (protobuf code)")
	@$(MAKE) --no-print-directory protos
	$(call step,"[4/5] jar của Kafka (Kafka broker jars, Maven)")
	@$(MAKE) --no-print-directory kafka-jars
	$(call step,"[5/5] kiểm tra (check)")
	@$(PIP) check
	@$(VENV)/bin/cityops --version
	@echo "setup xong / done — tiếp theo / next: make run, make test"

system-packages:  ## only the Debian packages (apt-get as root; otherwise prints the sudo command)
	@PYTHON=$(PYTHON) bash scripts/system_packages.sh

$(PY):
	$(PYTHON) -m venv $(VENV)

# Stamps make a second `make setup` take seconds: pip runs only when its inputs changed.
# requirements.lock carries every transitive dependency with its hashes (`make lock` writes it).
$(VENV)/.stamp-requirements: requirements.lock requirements.txt | $(PY)
	@$(PY) scripts/lock.py --check
	$(PIP) install --require-hashes -r requirements.lock
	@touch $@

# --no-deps: every third-party package comes from the lock; `pip check` (setup's last step) proves
# the packages' declared dependencies are all there. --no-build-isolation: setuptools is in the lock too.
$(VENV)/.stamp-editable: $(VENV)/.stamp-requirements libs/pyproject.toml devtools/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(PIP) install --no-deps --no-build-isolation -e libs -e devtools $(addprefix -e ,$(SERVICE_DIRS))
	@touch $@

lock:  ## re-resolve requirements.txt into the hash-pinned requirements*.lock (after editing requirements.txt)
	$(if $(wildcard $(PY)),$(PY),$(PYTHON)) scripts/lock.py $(LOCK_ARGS)

protos: | $(PY)  ## generate protobuf/gRPC code from protos/ into libs/src/cityops/
	@if [ -f scripts/gen_protos.py ]; then \
		$(PY) scripts/gen_protos.py; \
	else \
		echo "CẢNH BÁO / WARNING: scripts/gen_protos.py chưa có / is missing; protos skipped" >&2; \
	fi

kafka-jars: | $(PY)  ## fetch the Kafka broker jars with Maven (cached in .cache/kafka-libs)
	@$(PY) -m cityops_devtools.devstack fetch-jars

run:  ## start the whole city locally (devstack + services)
	$(VENV)/bin/cityops up

devstack:  ## only Kafka + Postgres, in the foreground (Ctrl-C stops them)
	$(PY) -m cityops_devtools.devstack up --run-dir .run/devstack

test:  ## every test: unit, integration, e2e (or TESTS=path, PYTEST_ARGS=...)
	$(PYTEST) $(TESTS)

test-unit:  ## unit tests only (no Kafka, Postgres or browser)
	$(PYTEST) tests/unit

# The unit suite on the newest Python too, in its own venv from the same lock.
PY313 ?= $(shell for p in $$(command -v python3.13) $$HOME/.pyenv/versions/3.13*/bin/python3.13 /usr/bin/python3.13; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV313 := .venv-py313

test-unit-py313:  ## unit tests on Python 3.13 (.venv-py313; python3.13 from PATH or pyenv, PY313=...)
	@[[ -n "$(PY313)" && -x "$(PY313)" ]] || { echo "✘ không tìm thấy python3.13 / no python3.13 (PATH, ~/.pyenv/versions); PY313=/path/to/python3.13" >&2; exit 1; }
	@[[ -x $(VENV313)/bin/python ]] || $(PY313) -m venv $(VENV313)
	@[[ $(VENV313)/.stamp -nt requirements.lock ]] || { \
		$(VENV313)/bin/python -m pip --disable-pip-version-check -q install --require-hashes -r requirements.lock && \
		$(VENV313)/bin/python -m pip --disable-pip-version-check -q install --no-deps --no-build-isolation -e libs -e devtools $(addprefix -e ,$(SERVICE_DIRS)) && \
		touch $(VENV313)/.stamp; }
	$(VENV313)/bin/python --version
	$(VENV313)/bin/python -m pytest -q -ra $(PYTEST_ARGS) tests/unit

test-integration:  ## integration tests (real Kafka and Postgres, started by the fixtures)
	$(PYTEST) tests/integration

test-e2e:  ## end-to-end tests (whole services, the console in Chromium)
	$(PYTEST) tests/e2e

screenshots:  ## console screenshots per role, wall 1920×1080 and laptop 1366×768, into docs/screenshots (real stack, Chromium); ROLE=dispatcher: one role
	CITYOPS_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PYTEST) tests/e2e/test_console_roles.py \
		tests/e2e/test_console_dispatcher.py $(if $(ROLE),-k "$(ROLE)")

test-faults:  ## fault injection (kills, partitions, poison) + Jepsen-style checker; prints the figures
	$(PYTEST) -p no:logging tests/faults

lint:  ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy libs/src devtools/src $(wildcard services/*/src)

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
