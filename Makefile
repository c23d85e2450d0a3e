# penaltypay — the two commands: `make run` and `make test` (`make install` sets up alone).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/penaltypay
CSS := build/static/citizen/app.css
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test test-sqlite test-postgres chromium clean

install: $(VENV)/.installed node_modules/.installed $(CSS) chromium

# The product (penaltypay) and, beside it, the local stand-ins (a separate distribution
# that a production install never contains).
$(VENV)/.installed: requirements.lock pyproject.toml standins/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . -e standins
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# GOV.UK Frontend's Sass, compiled with our assets path (the precompiled CSS expects /assets/).
$(CSS): penaltypay/citizen/assets/app.scss node_modules/.installed
	npx --no-install sass --load-path=node_modules --style=compressed --no-source-map --quiet-deps $< $@

# Browser tests drive Debian's Chromium (a downloaded browser cannot be fetched here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

run: install
	$(BIN)/penaltypay run

# The whole suite on SQLite (the embedded default), then on the local PostgreSQL.
test: install test-sqlite test-postgres

test-sqlite:
	env -u DATABASE_URL PENALTYPAY_ENV=test $(BIN)/python -m pytest

test-postgres:
	DATABASE_URL=$(PG_TEST_URL) PENALTYPAY_ENV=test $(BIN)/python -m pytest -m "not browser"

clean:
	rm -rf $(VENV) node_modules var build .pytest_cache
