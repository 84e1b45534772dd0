# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test demo bench lint install clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .  # .venv/bin/callctl, from any folder
	touch $@

# Azurite, pinned in package.json / package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: $(VENV)/.installed node_modules/.installed

# A short log by default (the subscriber's events, errors and warnings); `make run ARGS=--verbose` shows all.
run: install
	$(PY) -m devstack $(ARGS)

test: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache  # the layers in pyproject.toml
	$(PY) -m pytest

# A 50-recipient reminder campaign on the local stack, then its report.
demo: install
	$(PY) -m devstack.demo

# On demand, not part of `make test`: 1,000 recipients, pacing efficiency against the cap.
bench: install
	$(PY) -m bench.campaign_bench

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .azurite
