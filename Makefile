# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.toml
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench migrate clean lock console console-test FORCE

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the lock files or the package metadata change.
$(STAMP): $(BIN)/python requirements/requirements-dev.lock pyproject.toml
	$(BIN)/pip install --quiet --require-hashes -r requirements/requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/canhbao migrate --config $(CONFIG)

run: migrate console
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

pytest: $(STAMP) $(CHROMIUM) console
	$(BIN)/pytest

test: lint typecheck console-test pytest

# The staff console (console/, TypeScript + Vite): `npm ci` when the lock changes, the typed API
# client regenerated from the app's OpenAPI document (written without starting a server; the file
# is rewritten only when it changed), and the build when a source changed. A route change that
# breaks the console breaks `tsc` here.
NPM_STAMP := console/node_modules/.installed
CONSOLE_OPENAPI := var/console/openapi.json
CONSOLE_SCHEMA := console/src/api/schema.d.ts
CONSOLE_SOURCES := $(shell find console/src -type f ! -name '*.test.ts' ! -name '*.test.tsx' ! -name schema.d.ts 2>/dev/null) \
	console/index.html console/vite.config.ts console/tsconfig.json console/package.json
CONSOLE_BUILD := console/dist/index.html

# By content, not time: a checkout or rebase that rewrites the lock unchanged installs nothing
# (and leaves the stamp's time alone, so nothing is rebuilt either).
$(NPM_STAMP): console/package-lock.json
	@if cmp -s console/package-lock.json console/node_modules/.package-lock.installed; then \
		echo "console/package-lock.json unchanged: no npm ci"; \
	else \
		echo "cd console && npm ci"; \
		cd console && npm ci --no-audit --no-fund --loglevel=error && \
		cp package-lock.json node_modules/.package-lock.installed && touch node_modules/.installed; \
	fi

$(CONSOLE_OPENAPI): $(STAMP) FORCE
	$(BIN)/python -m canhbao.console openapi $@

$(CONSOLE_SCHEMA): $(CONSOLE_OPENAPI) $(NPM_STAMP)
	cd console && node_modules/.bin/openapi-typescript ../$(CONSOLE_OPENAPI) --default-non-nullable false -o src/api/schema.d.ts --silent

$(CONSOLE_BUILD): $(NPM_STAMP) $(CONSOLE_SCHEMA) $(CONSOLE_SOURCES)
	cd console && node_modules/.bin/tsc --noEmit && node_modules/.bin/vite build --logLevel warn

console: $(CONSOLE_BUILD)

console-test: console
	cd console && node_modules/.bin/tsc --noEmit && node_modules/.bin/vitest run --reporter=dot

FORCE:

bench: $(STAMP)
	$(BIN)/python -m bench

# Re-pin after editing requirements/*.in (needs pip-tools; not part of run/test).
lock:
	cd requirements && pip-compile -q --generate-hashes --allow-unsafe --strip-extras -o requirements.lock requirements.in
	cd requirements && pip-compile -q --generate-hashes --allow-unsafe --strip-extras -o requirements-dev.lock requirements-dev.in

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache console/node_modules console/dist
