# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.toml
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench migrate clean lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the lock files or the package metadata change.
$(STAMP): $(BIN)/python requirements/requirements-dev.lock pyproject.toml
	$(BIN)/pip install --quiet --require-hashes -r requirements/requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/canhbao migrate --config $(CONFIG)

run: migrate
	$(BIN)/canhbao serve --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's Chromium for the browser tests (tests/public/test_browser.py: Playwright drives it and
# never downloads a browser of its own). Installed with apt when missing, as CI's fresh machine
# needs (it runs as root).
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

pytest: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench

# Re-pin after editing requirements/*.in (needs pip-tools; not part of run/test).
lock:
	cd requirements && pip-compile -q --generate-hashes --allow-unsafe --strip-extras -o requirements.lock requirements.in
	cd requirements && pip-compile -q --generate-hashes --allow-unsafe --strip-extras -o requirements-dev.lock requirements-dev.in

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
