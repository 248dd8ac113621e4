# adcml — the README's two commands are `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the project needs, installed when missing. openssh-server and iproute2: the test
# hosts (docs/test-hosts.md) run their own sshd in network namespaces; no system sshd is used.
# chromium and chromium-driver: the browser sign-in tests drive a headless Chromium (Selenium
# through Debian's chromedriver: nothing is downloaded at run time).
DEB_PACKAGES := curl ca-certificates nginx openssh-server iproute2 chromium chromium-driver
# The lab's directory (pid files, logs, PKI, the lab ADC's state); docs/lab.md. Its addresses
# are those of inventories/local (ADCML_LAB_* variables move them; the inventory must follow).
LAB_DIR ?= .lab

.PHONY: setup test lint lab clean

setup: $(STAMP)

# Installing a package must not start its daemon here (openssh-server's sshd on port 22, nginx
# on 80): without a policy-rc.d of the machine's own, one that denies every start stands in
# for the install.
$(STAMP): pyproject.toml
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=1; \
		fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; rc=$$?; \
		if [ -n "$$guard" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
		[ $$rc -eq 0 ]; \
	fi
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks library module_utils doc_fragments pulumi
	$(VENV)/bin/lint-imports

test: setup lint
	$(PY) -m pytest -q

lab: setup
	$(VENV)/bin/adcml lab up --dir $(LAB_DIR)
	$(VENV)/bin/ansible-playbook -i inventories/local playbooks/site.yml -e adcml_lab_dir=$(abspath $(LAB_DIR))
	@$(VENV)/bin/adcml lab status --dir $(LAB_DIR)
	@$(VENV)/bin/adcml lab smoke --dir $(LAB_DIR)

clean:
	@if [ -x $(VENV)/bin/adcml ]; then $(VENV)/bin/adcml lab down --dir $(LAB_DIR) || true; fi
	@if [ -x $(VENV)/bin/adcml ] && [ -e $(LAB_DIR)/hosts/hosts.json ]; then \
		$(VENV)/bin/adcml lab hosts down --dir $(LAB_DIR)/hosts || true; fi
	rm -rf $(VENV) $(LAB_DIR) .pytest_cache .ruff_cache .hypothesis
