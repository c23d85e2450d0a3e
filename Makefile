# penaltypay — the two commands: `make run` and `make test` (`make install` sets up alone).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/penaltypay
REDIS_TEST_URL ?= redis://127.0.0.1:6379/15
CSS := build/static/web/app.css
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Branch coverage the suites must reach together (SQLite + PostgreSQL): the floor CI enforces.
COVERAGE_FLOOR := 90

.PHONY: install run test check services test-begin test-sqlite test-postgres test-browser test-fast test-dates check-migrations test-report coverage chromium faketime pango clean openapi messages

WELSH := penaltypay/locale/cy/LC_MESSAGES/django
install: $(VENV)/.installed node_modules/.installed $(CSS) $(WELSH).mo chromium faketime pango

# The product (penaltypay) and, beside it, the local stand-ins (a separate distribution a
# production install never contains); then the tools for tests and checks.
$(VENV)/.installed: requirements.lock requirements-dev.lock pyproject.toml standins/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . -e standins
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# GOV.UK Frontend's Sass, compiled with our assets path (the precompiled CSS expects /assets/).
$(CSS): penaltypay/web/assets/app.scss node_modules/.installed
	npx --no-install sass --load-path=node_modules --style=compressed --no-source-map --quiet-deps $< $@

# The Welsh translations (Babel: pure Python, no system gettext needed).
$(WELSH).mo: $(WELSH).po $(VENV)/.installed
	$(BIN)/pybabel compile --domain django --directory penaltypay/locale --locale cy --statistics

# After changing a translatable string: extract every string the keeper's pages use, then
# merge them into the Welsh catalogue (new ones arrive empty; the test suite fails until
# each has its Welsh).
messages: $(VENV)/.installed
	mkdir -p build
	$(BIN)/pybabel extract --mapping-file babel.cfg --keywords gettext_noop --keywords gettext_lazy \
	  --no-location --sort-output --omit-header --output-file build/messages.pot .
	$(BIN)/pybabel update --input-file build/messages.pot --domain django --output-dir penaltypay/locale \
	  --locale cy --no-fuzzy-matching --ignore-obsolete --width 100

# Browser tests drive Debian's Chromium (a downloaded browser cannot be fetched here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# The receipt PDF (WeasyPrint) lays text out with Debian's Pango and a font (ADR 0030).
pango:
	@ldconfig -p | grep -q libpangoft2-1.0 && fc-list | grep -q DejaVu || { \
	  echo "Installing Debian's Pango and DejaVu fonts for the receipt PDF"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core; }

# The shifted-clock runs (make test-dates) move the machine's clock with Debian's libfaketime.
faketime:
	@command -v faketime >/dev/null 2>&1 || { \
	  echo "Installing Debian's faketime for the shifted-clock test runs"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq faketime; }

run: install
	$(BIN)/penaltypay run

# Checks first (seconds), then the suite in two passes, each spread over the cores
# (pytest-xdist): on SQLite (the embedded default) with the machine's clock moved 400 days
# on, and on the local PostgreSQL with Redis at the real time; then the coverage floor over
# both, and a table of what each pass ran and how long it took. .ci/run adds the browser
# tests (make test-browser) and the further shifted moments (make test-dates).
test: install check services test-begin test-sqlite test-postgres coverage test-report

# A production environment as an operator would set one (no real secret: generated here).
PRODUCTION_CHECK_ENV := PENALTYPAY_ENV=production DATABASE_URL=postgres://penaltypay@db.internal:5432/penaltypay \
  REDIS_URL=redis://cache.internal:6379/0 SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))') \
  PAY_API_KEY=check-only PAY_WEBHOOK_SECRET=check-only-secret ALLOWED_HOSTS=pay-penalty.service.gov.uk \
  PUBLIC_BASE_URL=https://pay-penalty.service.gov.uk ECS_URL=https://ecs.internal/ecs/v1 \
  PAY_API_URL=https://publicapi.payments.service.gov.uk PAY_CARD_ORIGIN=https://card.payments.service.gov.uk \
  NOTIFY_API_KEY=check-only NOTIFY_RECEIPT_TEMPLATE_ID=check-only NOTIFY_REFUND_TEMPLATE_ID=check-only \
  NOTIFY_RECEIPT_TEMPLATE_ID_CY=check-only NOTIFY_REFUND_TEMPLATE_ID_CY=check-only NOTIFY_STAFF_TEMPLATE_ID=check-only \
  NOTIFY_PAYMENT_LINK_TEMPLATE_ID=check-only NOTIFY_PAYMENT_LINK_TEMPLATE_ID_CY=check-only TRUSTED_PROXY_COUNT=1

# The house rules: import contracts, lint and format, types, migrations in step with models,
# and Django's deployment checks on production settings (warnings fail too).
check:
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	env -u DATABASE_URL PENALTYPAY_ENV=test $(BIN)/python -m django makemigrations --check --dry-run --settings=penaltypay.settings
	env $(PRODUCTION_CHECK_ENV) $(BIN)/python -m django check --deploy --fail-level WARNING --settings=penaltypay.settings

# Every migration safe for the release before it, or reviewed (ADR 0028; the PostgreSQL pass
# runs it too, in tests/packaging/test_migrations_checker.py).
check-migrations: install services
	DATABASE_URL=$(PG_TEST_URL) $(BIN)/python scripts/check-migrations

# The PostgreSQL pass needs the local PostgreSQL and Redis: say so plainly when one is down.
services:
	@$(BIN)/python -c "import psycopg; psycopg.connect('$(PG_TEST_URL)'.rsplit('/', 1)[0] + '/postgres', connect_timeout=5).close()" \
	  || { echo "PostgreSQL is not answering at $(PG_TEST_URL): start it (docs/development.md)"; exit 1; }
	@$(BIN)/python -c "import redis; redis.Redis.from_url('$(REDIS_TEST_URL)', socket_connect_timeout=5).ping()" \
	  || { echo "Redis is not answering at $(REDIS_TEST_URL): start it (docs/development.md)"; exit 1; }

# Two test processes per core (most tests spend most of their time waiting on a server, a
# browser or a subprocess). Each process starts with a run of whole files and, once done,
# takes tests from the others' queues (worksteal): the long files no longer set the pace.
TEST_PROCESSES ?= 4
XDIST := -n $(TEST_PROCESSES) --dist worksteal
# Each pass prints its fifteen slowest steps: where the time goes.
PYTEST := $(BIN)/coverage run -m pytest -q -p no:cacheprovider --durations=15
SQLITE_ENV := env -u DATABASE_URL -u REDIS_URL PENALTYPAY_ENV=test
POSTGRES_ENV := env DATABASE_URL=$(PG_TEST_URL) REDIS_URL=$(REDIS_TEST_URL) PENALTYPAY_ENV=test
# The SQLite pass runs with the machine's clock this far on (libfaketime, scripts/shifted-clock):
# a test anywhere that reads the real date where it meant the test clock fails there (ADR 0017).
SHIFTED_CLOCK := today+400d

test-begin:
	rm -rf var/coverage var/test-passes.tsv var/workers

# Every test but the browser's (make test-browser: at the real time, as Chromium keeps the
# real clock); the tests that use no database run only here. Coverage is taken here of the
# tests that use no database, and in the PostgreSQL pass of the others (once each). Those that must have the
# machine to themselves (marked serial: they restart PostgreSQL, or race many processes
# against a limit) run after the rest, one at a time.
test-sqlite:
	$(SQLITE_ENV) PENALTYPAY_TEST_PASS="SQLite, clock at $(SHIFTED_CLOCK)" \
	  scripts/shifted-clock $(SHIFTED_CLOCK) -- $(PYTEST) $(XDIST) --measure-database-free-only --no-postgres-only-tests -m "not browser and not serial"
	$(SQLITE_ENV) PENALTYPAY_TEST_PASS="SQLite, clock at $(SHIFTED_CLOCK), alone" \
	  scripts/shifted-clock $(SHIFTED_CLOCK) -- $(PYTEST) --measure-database-free-only --no-postgres-only-tests -m "serial and not browser"

# Every test that uses the database on PostgreSQL with Redis; then the serial ones.
test-postgres:
	$(POSTGRES_ENV) PENALTYPAY_TEST_PASS="PostgreSQL" $(PYTEST) $(XDIST) --database-tests-only -m "not serial and not browser"
	$(POSTGRES_ENV) PENALTYPAY_TEST_PASS="PostgreSQL, alone" $(PYTEST) --database-tests-only -m "serial and not browser"

# The browser tests (Debian's Chromium: the keeper's journey, the back office, axe-core on
# every page in both languages) on PostgreSQL at the real time, without coverage (they read
# what the server renders, which the other tests measure). .ci/run runs them after make test.
test-browser: install services
	$(POSTGRES_ENV) PENALTYPAY_TEST_PASS="Browser, PostgreSQL" $(BIN)/pytest -q -p no:cacheprovider --durations=15 \
	  $(XDIST) -m browser
	@scripts/test-report

# The inner loop (seconds, not minutes): the checks, then the tests that need no database,
# no browser and no server of their own, at the real time and without coverage.
test-fast: install check
	$(SQLITE_ENV) $(BIN)/pytest -q -p no:cacheprovider $(XDIST) --no-database-tests -m "not browser and not slow and not postgres"

# The other moments CI tries besides (.ci/run): across the spring clock change, on the last
# Sunday of October while London's date is ahead of UTC's, and on 29 February.
SHIFTED_CLOCKS := 2027-03-28T00:58:00Z 2027-10-30T23:30:00Z 2028-02-29T10:00:00Z
test-dates: install
	@for moment in $(SHIFTED_CLOCKS); do \
	  $(SQLITE_ENV) PENALTYPAY_TEST_PASS="SQLite, clock at $$moment" \
	    scripts/shifted-clock $$moment -- $(BIN)/pytest -q -p no:cacheprovider $(XDIST) --date-tests-only -m "not browser and not serial" || exit 1; \
	done
	@scripts/test-report

test-report:
	@scripts/test-report

coverage:
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report --fail-under=$(COVERAGE_FLOOR)

clean:
	rm -rf $(VENV) node_modules var build .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

# The committed OpenAPI document of /api/v1 (CI fails when the code and the copy differ, and
# on any change that would break v1's clients: tests/api/test_openapi.py).
openapi: $(VENV)/.installed
	PENALTYPAY_ENV=test $(BIN)/python -c "import json, django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'penaltypay.settings'); django.setup(); from penaltypay.api.v1 import api; open('docs/api/openapi-v1.json', 'w').write(json.dumps(api.get_openapi_schema(), indent=2, sort_keys=True) + '\\n')"
