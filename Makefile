# TellWell: `make demo` runs it, `make test` tests it. Both install what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := .local/tools/bin/uv
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: help install test-tools demo up down status test test-fast lint fmt typecheck contract images

help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-11s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	@command -v python3 >/dev/null || { echo "error: python3 (3.11+) not found: install Python 3.11" >&2; exit 1; }
	python3 -m venv .local/tools
	.local/tools/bin/pip install -q "uv==$(UV_VERSION)"

# Bytecode is compiled at install: where PYTHONDONTWRITEBYTECODE is set (as on our CI machines)
# Python never caches it, and every process start (services, CLI, test subprocesses) compiled its
# imports again, about 5 s of CPU each.
install: $(UV) ## Install Python packages (uv.lock), Kafka's jars and the FerretDB build
	$(UV) sync --locked --all-packages --compile-bytecode
	$(UV) run --no-sync python -m compileall -q libs services >/dev/null
	bash deploy/local/stack.sh install

test-tools: install ## What only the tests need: Debian's Chromium, kustomize + schemas, a PromQL parser
	bash deploy/local/browser.sh install
	bash deploy/k8s/tools.sh install
	bash deploy/grafana/promql.sh install

# Ctrl-C stops the demo cleanly (it prints what it stopped and exits 0); GNU make, interrupted
# itself, then re-raises SIGINT, so the shell sees the status of a Ctrl-C (130), not 0.
# Ports: GATEWAY_PORT, INGEST_PORT, ... DEMO_ARGS: e.g. --no-stack (use KAFKA_*/MONGO_* as set).
demo: install ## Start Kafka, FerretDB and the five services; Ctrl-C stops them
	$(UV) run tellwell demo $(DEMO_ARGS)

up: install ## Start the local stack (Kafka + FerretDB) and create the topics
	$(UV) run tellwell infra up

down: ## Stop the local stack
	bash deploy/local/stack.sh down

status: ## Is the local stack up?
	bash deploy/local/stack.sh status

# Starts the local stack unless it is already up (or TELLWELL_TEST_KAFKA/_MONGO_URL point elsewhere),
# runs every test but benchmarks, and stops what it started.
test: test-tools ## Run the whole test suite against real Kafka and FerretDB
	@started=0; \
	if [ -z "$$TELLWELL_TEST_KAFKA" ] && ! bash deploy/local/stack.sh status >/dev/null 2>&1; then \
	  bash deploy/local/stack.sh up || exit 1; started=1; \
	fi; \
	$(UV) run pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$started = 1 ]; then bash deploy/local/stack.sh down; fi; \
	if [ $$rc = 5 ]; then echo "error: no tests ran" >&2; fi; \
	exit $$rc

test-fast: $(UV) ## Tests that need no broker (contract, domain, in-memory broker)
	$(UV) run pytest -m 'not kafka and not mongo' $(PYTEST_ARGS)

lint: $(UV) ## ruff check + format check, contract files current
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run tellwell contract export --check

fmt: $(UV) ## Format and autofix
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

typecheck: $(UV) ## mypy, strict on every package
	$(UV) run mypy libs/common/src libs/cli/src services/*/src bench/src examples/subscriber

contract: $(UV) ## Regenerate docs/schemas and docs/asyncapi.json (refuses breaking changes)
	$(UV) run tellwell contract export

# One recipe (deploy/Dockerfile) for the five images; the ports are the services' settings defaults.
SERVICE_PORTS := gateway:8000 ingest:8001 cluster:8002 summarize:8003 score:8004
IMAGE_TAG ?= latest
images: ## Build the five service images (needs a Docker engine)
	@for sp in $(SERVICE_PORTS); do svc=$${sp%%:*}; port=$${sp##*:}; \
	  docker build -f deploy/Dockerfile --build-arg SERVICE=$$svc --build-arg PORT=$$port \
	    --build-arg UV_VERSION=$(UV_VERSION) -t tellwell-$$svc:$(IMAGE_TAG) . || exit 1; \
	done
