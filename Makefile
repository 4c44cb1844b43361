# pinpoint-on-fargate: every target bootstraps what it needs (venv, pinned deps, pinned Node + CDK CLI).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NODE_BIN := $(CURDIR)/node_modules/.bin
# The pinned Node 22 from package.json runs the CDK CLI and jsii (the system Node may be EOL).
export PATH := $(NODE_BIN):$(PATH)
CDK := $(NODE_BIN)/cdk
# Extra CDK arguments, e.g. CDK_ARGS="-c config=prod -c image_tag=abc1234"
CDK_ARGS ?=
# Extra script arguments for push-image / pin-checksums, e.g. ARGS="--tag v1 --latest"
ARGS ?=
PYTEST_ARGS ?=

.PHONY: help setup synth bootstrap deploy diff destroy cost status push-image pin-checksums local local-down test test-unit test-integration test-real lint format bench provision-test-host clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.installed node_modules/.installed ## Create the venv and install pinned Python + Node deps (idempotent)

synth: setup ## Synthesize CloudFormation into cdk.out (offline, no AWS account needed)
	$(CDK) synth --quiet $(CDK_ARGS)
	@echo "Templates in cdk.out/ (cdk-nag clean)."

bootstrap: setup ## cdk bootstrap aws://ACCOUNT/REGION of your credentials (make deploy does it when needed)
	$(PY) scripts/preflight.py bootstrap $(CDK_ARGS)

deploy: setup ## Everything, first run included: checks, bootstrap, checksum pinning, cost, deploy, wait, next steps
	$(PY) scripts/preflight.py deploy $(CDK_ARGS)
	$(PY) scripts/cost.py --source table $(CDK_ARGS) || echo "cost: no estimate (see the line above); deploying anyway"
	$(PY) scripts/with_buildkit.py $(CDK) deploy --require-approval never $(CDK_ARGS)
	$(PY) scripts/post_deploy.py $(CDK_ARGS)

diff: setup ## Show what a deploy would change (needs AWS credentials)
	$(PY) scripts/preflight.py diff $(CDK_ARGS)
	$(CDK) diff $(CDK_ARGS)

destroy: setup ## Delete the stack; retained (billed until deleted): EFS file systems, log buckets, EMR data bucket + key, backup vault + key
	$(PY) scripts/preflight.py destroy $(CDK_ARGS)
	$(CDK) destroy --force $(CDK_ARGS)

cost: setup ## Monthly list price of the configured deployment, line by line (offline table, or ARGS="--source api")
	$(PY) scripts/cost.py $(ARGS) $(CDK_ARGS)

status: setup ## This stack's services, target health, EMR, last backup, alarms on one screen; exit 1 unhealthy, 3 could not check
	$(PY) scripts/status.py $(CDK_ARGS)

push-image: setup ## Build images/pinpoint for linux/arm64 and push it to ECR (see --help via ARGS=--help)
	$(PY) scripts/push_image.py $(ARGS)

pin-checksums: setup ## Download the jars, HBase and agent, verify them, record their SHA-512 in config/default.json (ARGS="--config prod")
	$(PY) scripts/pin_checksums.py $(ARGS)

local: setup ## Pinpoint + the sample app on this machine's Docker engine, no AWS (settings: CDK_ARGS; options: ARGS="--help")
	$(PY) scripts/local.py up $(CDK_ARGS) $(ARGS)

local-down: setup ## Stop and remove make local's containers; keeps the HBase data volume (ARGS=--volumes removes it)
	$(PY) scripts/local.py down $(ARGS)

test: setup ## Lint, unit tests, integration tests, then the real-component tier (Docker engine, moto, local registry, Maven Central)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -rs -n 4 tests/unit $(PYTEST_ARGS)
	$(PY) -m pytest -rs tests/integration $(PYTEST_ARGS)
	$(PY) -m pytest -rs tests/real $(PYTEST_ARGS)

test-unit: setup ## Unit tier only (fast, no Docker; 4 workers: most tests wait on subprocesses)
	$(PY) -m pytest -rs -n 4 tests/unit $(PYTEST_ARGS)

test-integration: setup ## Integration tier only (real HBase from Maven Central, stand-in Pinpoint servers)
	$(PY) -m pytest -rs tests/integration $(PYTEST_ARGS)

test-real: setup ## Real-component tier only: the real Pinpoint web and agent on real HBase (Maven Central)
	$(PY) -m pytest -rs tests/real $(PYTEST_ARGS)

lint: setup ## ruff, hadolint and cfn-lint over a fresh synth
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/hadolint images/pinpoint/Dockerfile images/app/Dockerfile
	$(CDK) synth --quiet $(CDK_ARGS)
	$(VENV)/bin/cfn-lint --non-zero-exit-code error cdk.out/*.template.json

format: setup ## Apply ruff fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# No addopts: pyproject's `--dist worksteal` turns xdist on, and pytest-benchmark then refuses --benchmark-only.
bench: setup ## Benchmarks (synth time, config validation, image builds amd64/arm64 at real artifact sizes: needs Docker)
	$(PY) -m pytest benchmarks --benchmark-only -o addopts="" $(PYTEST_ARGS)

provision-test-host: ## (root) Install and start what integration tests need: Docker engine, QEMU, registry
	bash scripts/provision_test_host.sh

clean: ## Remove build outputs (keeps the venv and node_modules)
	rm -rf cdk.out build .pytest_cache .ruff_cache
