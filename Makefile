# adcml — the README's two commands are `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the project needs, installed when missing.
DEB_PACKAGES := curl ca-certificates
LAB_DIR ?= .lab
LAB_HTTP ?= 127.0.0.1:9080
LAB_HTTPS ?= 127.0.0.1:9443

.PHONY: setup test lint lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks library module_utils doc_fragments

test: setup lint
	$(PY) -m pytest -q

lab: setup
	@mkdir -p $(LAB_DIR)
	@echo "Starting the lab ADC (Ctrl-C stops it). Try, from another shell:"
	@echo "  curl -s -X POST http://$(LAB_HTTP)/nitro/v1/config/login \\"
	@echo "       -H 'Content-Type: application/json' -d '{\"login\":{\"username\":\"nsroot\",\"password\":\"nsroot\"}}'"
	@echo "  curl -s -H 'X-NITRO-USER: nsroot' -H 'X-NITRO-PASS: nsroot' http://$(LAB_HTTP)/nitro/v1/config/nsversion"
	$(VENV)/bin/adcml lab-adc --listen $(LAB_HTTP) --tls-listen $(LAB_HTTPS) --state-dir $(LAB_DIR)/adc

clean:
	rm -rf $(VENV) $(LAB_DIR) .pytest_cache .ruff_cache .hypothesis
