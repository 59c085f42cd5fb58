# stresslab: every target sets up what it needs first (idempotent), then acts.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup system site contract demo aws-local test test-fast lint synth bench bench-memory clean

## Debian packages the runs and tests need (nginx for foreign-target tests, Chromium for the
## pages, npm for the site, Prometheus to scrape /metrics), each as
## package:what-shows-it-is-there; installed once, as root, and only what is missing.
## Without root: one line saying how.
SYSTEM_PACKAGES := nginx:/usr/sbin/nginx chromium:/usr/bin/chromium npm:npm \
	prometheus:/usr/bin/prometheus
system:
	@missing=""; for entry in $(SYSTEM_PACKAGES); do probe="$${entry#*:}"; \
		test -x "$$probe" || command -v "$$probe" >/dev/null 2>&1 || \
		missing="$$missing $${entry%%:*}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "stresslab: needs Debian packages:$$missing; run: sudo apt-get install -y$$missing" >&2; \
			exit 1; fi; \
		echo "stresslab: installing$$missing (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
			|| { echo "stresslab: apt-get install$$missing failed" >&2; exit 1; }; \
	fi

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

SITE := dashboard_site/dist/presentation.html
SITE_SOURCES := $(shell find dashboard_site/src dashboard_site/*.html dashboard_site/*.ts \
	dashboard_site/package.json dashboard_site/package-lock.json -type f 2>/dev/null)

$(SITE): $(SITE_SOURCES)
	cd dashboard_site && npm ci --no-audit --no-fund && npm run build && npm test
	touch $(SITE)

## The dashboards, built once and again when their sources change.
site: system $(SITE)

## The wire contracts: JSON Schema from the pydantic models (control API, live protocol,
## summary.json), then the pages' types from the first two.
contract: setup
	$(PY) -m stresslab.control
	$(PY) -m stresslab.measurement.live_schema
	$(PY) -m stresslab.judgement.summary_model
	cd dashboard_site && npm run types

## The main job: dashboards on http://127.0.0.1:8080 and the investor demo, compressed.
demo: system setup site
	$(PY) -m stresslab demo $(if $(OTLP),--otlp $(OTLP))

## The AWS runtime on this machine, no account: moto, the synthesized stack, the real handlers.
aws-local: system setup site
	$(PY) -m tests.emulation

## Every test: unit, integration, infrastructure, end to end, browser.
test: system setup site
	$(PY) -m pytest -q

test-fast: system setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy stresslab reference_service app.py stacks lambdas

synth: setup
	$(PY) app.py

## Peers side by side on this machine (Locust in its own venv; wrk and nginx from Debian).
bench: setup
	command -v wrk >/dev/null && command -v nginx >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk nginx)
	test -x .venv-bench/bin/locust || ($(PYTHON) -m venv .venv-bench && \
		.venv-bench/bin/pip install --quiet locust==2.47.0)
	$(PY) bench/generator.py
	$(PY) bench/target_kinds.py
	$(PY) bench/reference_scaling.py
	$(PY) bench/aggregator.py
	$(PY) bench/pipeline.py --tps 5000 --duration 60s
	$(PY) bench/dashboard_latency.py --tps 5000 --duration 30s
	$(PY) bench/memory_slope.py --quick

## Memory slope per hour of runner, workers and service (30 min at 1,000 TPS; MINUTES=N).
bench-memory: setup
	$(PY) bench/memory_slope.py --minutes $(or $(MINUTES),30)

clean:
	rm -rf $(VENV) .venv-bench dashboard_site/node_modules dashboard_site/dist cdk.out .pytest_cache .mypy_cache .ruff_cache results .stresslab
