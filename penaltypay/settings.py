"""Django settings for penaltypay.

Everything that differs between a laptop and production comes from the
environment (twelve-factor). The defaults are safe for a local run only;
`PENALTYPAY_ENV=production` refuses to start with any of them.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from penaltypay import production_checks

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PENALTYPAY_VAR_DIR", BASE_DIR / "var"))

# `local` and `test` by name; any other name (staging, prod, a typo) is production.
ENVIRONMENT = os.environ.get("PENALTYPAY_ENV", "local")
PRODUCTION = production_checks.is_production(ENVIRONMENT)

# The test suite runs in several processes at once (pytest-xdist, `make test`): each has
# its own scratch folder (SQLite file, mail, metrics) and Redis database, and so does every
# server or worker a test starts from it (the environment is rewritten, once, for them).
_test_worker = os.environ.get("PYTEST_XDIST_WORKER", "") if ENVIRONMENT == "test" else ""
if _test_worker and os.environ.get("PENALTYPAY_TEST_WORKER") != _test_worker:
    VAR_DIR = VAR_DIR / "workers" / _test_worker
    os.environ.update(
        PENALTYPAY_TEST_WORKER=_test_worker,
        PENALTYPAY_VAR_DIR=str(VAR_DIR),
        PROMETHEUS_MULTIPROC_DIR=str(VAR_DIR / "prometheus"),
    )
    if os.environ.get("REDIS_URL"):
        _base, _, _db = os.environ["REDIS_URL"].rpartition("/")
        _index = int(_test_worker.removeprefix("gw") or 0)
        os.environ["REDIS_URL"] = f"{_base}/{(int(_db or 0) - _index) % 16}"

if not PRODUCTION:
    # SQLite, receipt emails and collected assets live here on a local run.
    for _sub in ("", "mail", "static"):
        (VAR_DIR / _sub).mkdir(parents=True, exist_ok=True)

# Prometheus metrics, multi-process: every web and worker process writes its numbers here
# and /metrics adds them up (penaltypay.kernel.metrics). Set before anything imports
# prometheus_client. In production a per-container scratch folder (e.g. a tmpfs).
PROMETHEUS_MULTIPROC_DIR = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))
try:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
except OSError as _error:
    raise ImproperlyConfigured(
        f"PROMETHEUS_MULTIPROC_DIR {PROMETHEUS_MULTIPROC_DIR} cannot be created: {_error}"
    ) from _error

DEFAULT_SECRET_KEY = "local-development-only-not-a-secret"  # noqa: S105 - refused in production
SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = os.environ.get("DEBUG", "0" if PRODUCTION else "1") == "1"

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "penaltypay.cases",
    "penaltypay.payments",
    "penaltypay.ecs",
    "penaltypay.extract",
    "penaltypay.exceptions",
    "penaltypay.reminders",
    "penaltypay.reconciliation",
    "penaltypay.reporting",
    "penaltypay.audit",
    "penaltypay.web",
    "penaltypay.citizen",
    "penaltypay.staff",
    "penaltypay.api",
    "penaltypay.operations",
    "penaltypay.apps.WiringConfig",  # every outward port wired to its adapter (penaltypay.wiring)
]
# The migration checker (`make check`: a migration the previous release could not run
# against fails; ADR 0028): a development tool, never installed in production.
if not PRODUCTION and importlib.util.find_spec("django_migration_linter") is not None:
    INSTALLED_APPS.append("django_migration_linter")

MIDDLEWARE = [
    # The probes answer to any Host over plain HTTP (the pod's IP): before the host check
    # and the HTTPS redirect, and only on their two paths (penaltypay.operations.probes).
    "penaltypay.operations.probes.ProbeMiddleware",
    # First: every later line of the request carries its id, and every answer is counted.
    "penaltypay.operations.requests.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "penaltypay.security.ContentSecurityPolicyMiddleware",
    "penaltypay.api.middleware.ApiBodyLimitMiddleware",
    "penaltypay.web.body_limit.BodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's session middleware, with the back office's own cookie (penaltypay.staff.sessions).
    "penaltypay.staff.sessions.SessionMiddleware",
    # English or Welsh for the keeper (session, then browser); English elsewhere.
    "penaltypay.web.language.LanguageMiddleware",
    "penaltypay.citizen.info.MaintenanceMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "penaltypay.staff.middleware.StaffAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "penaltypay.urls"
WSGI_APPLICATION = "penaltypay.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "environment": "penaltypay.jinja2.environment",
            "context_processors": ["penaltypay.staff.context.navigation"],
        },
    },
    {
        # Django's own templates (only the built-in error fallbacks use it).
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'penaltypay.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
# Connections each process may hold at most (PostgreSQL): a bounded pool shared by its
# threads, so that two releases' pods side by side during a rollout fit the database's
# max_connections (docs/adr/0029; the sizing formula is in docs/runbook.md). 0: no pool,
# one kept connection per thread (DATABASE_CONN_MAX_AGE).
DATABASE_POOL_SIZE = int(os.environ.get("DATABASE_POOL_SIZE", "5"))
# Stopping a web pod (docs/runbook.md "Releases"): `penaltypay drain` (the pod's preStop)
# writes this file, /readyz answers 503 from then on so no new keeper is sent here, and after
# WEB_DRAIN_SECONDS gunicorn is stopped, finishing the requests it holds within
# WEB_GRACEFUL_SECONDS. In containers it lives on the writable /tmp (the ConfigMap says so).
DRAIN_FILE = Path(os.environ.get("PENALTYPAY_DRAIN_FILE", VAR_DIR / "draining"))
WEB_DRAIN_SECONDS = float(os.environ.get("WEB_DRAIN_SECONDS", "10"))
WEB_GRACEFUL_SECONDS = int(os.environ.get("WEB_GRACEFUL_SECONDS", "25"))
# How long a request waits for a free connection before it is told "try again shortly".
DATABASE_POOL_TIMEOUT = float(os.environ.get("DATABASE_POOL_TIMEOUT", "10"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # After a restart or failover a kept connection is dead: test it before each request
    # uses it (one round trip) instead of failing the request; never wait long to connect.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))
    )
    if DATABASE_POOL_SIZE > 0:
        # A pooled connection goes back to the pool at the end of each request (and when a
        # worker thread waits on ECS), rather than being kept by its thread.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": DATABASE_POOL_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT,
            "max_idle": 60,  # idle connections beyond min_size are closed after a minute
            # While the database is away the pool retries with a doubling back-off; giving
            # up after 10 s means the next request starts afresh, so service resumes within
            # a second or two of the database coming back, not after the next doubled wait.
            "reconnect_timeout": 10,
        }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker) share the file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Tests use a file too, not shared-cache memory: many threads (the concurrency tests)
    # then wait on the write lock as a local run does, instead of failing "table is locked".
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The application's own PostgreSQL role (docs/runbook.md "Database roles"): `penaltypay
# migrate`, run as the schema's owner, grants it what the service needs and no more.
DATABASE_APP_ROLE = os.environ.get("DATABASE_APP_ROLE", "")

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # A Redis that is slow or unreachable must cost a request a fraction of a second, not
    # hang it: the rate limits then count in the process (penaltypay.ratelimits).
    _redis_timeout = float(os.environ.get("REDIS_TIMEOUT_SECONDS", "0.5"))
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": _redis_timeout, "socket_timeout": _redis_timeout},
        }
    }
else:
    # No Redis (the embedded default): the counts live in the service's own database, shared
    # by every process, each changed by one atomic statement (penaltypay.web.shared_counts).
    CACHES = {"default": {"BACKEND": "penaltypay.web.shared_counts.DatabaseCountsCache"}}

# Sessions hold only our own payment ids: signed cookies would put them in the
# browser, so keep them server-side.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# A keeper's session: gone after 30 idle minutes (renewed while in use), when the
# browser closes, and when the confirmation has been shown (views).
SESSION_COOKIE_AGE = 30 * 60
# Idle limit: a session in use is written again at most once a minute (penaltypay.staff.sessions).
SESSION_SAVE_EVERY_REQUEST = False
SESSION_TOUCH_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_AGE = None  # ends with the browser, as the cookies page says
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION and os.environ.get("SECURE_SSL_REDIRECT", "1") == "1"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_HSTS_SECONDS = 31536000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
# service.gov.uk is on the browsers' preload list already; say so (Django's deploy check).
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("cy", "Cymraeg")]
LOCALE_PATHS = [BASE_DIR / "penaltypay" / "locale"]
USE_I18N = True
TIME_ZONE = "Europe/London"
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# GOV.UK Frontend comes from the npm package installed by `make install`, never copied by hand.
GOVUK_FRONTEND_DIR = BASE_DIR / "node_modules" / "govuk-frontend" / "dist" / "govuk"
# Our stylesheet, compiled from GOV.UK Frontend's Sass by `make install`.
COMPILED_STATIC_DIR = BASE_DIR / "build" / "static"
STATICFILES_DIRS = [("govuk", GOVUK_FRONTEND_DIR), COMPILED_STATIC_DIR]
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- External systems -------------------------------------------------------
ECS_URL = os.environ.get("ECS_URL", "http://127.0.0.1:8081/ecs/v1")
ECS_USERNAME = os.environ.get("ECS_USERNAME", "")
ECS_PASSWORD = os.environ.get("ECS_PASSWORD", "")
# A citizen's page waits at most this long for a GetCase before using the local store.
ECS_LOOKUP_TIMEOUT = float(os.environ.get("ECS_LOOKUP_TIMEOUT", "3"))
# Look-ups (and provider calls) one web process has in flight at once, at most: the
# bulkheads (docs/adr/0010). Past them a keeper gets the local store's answer, or a
# "busy, try again in a minute" page — never a place in a queue.
ECS_LOOKUP_CONCURRENCY = int(os.environ.get("ECS_LOOKUP_CONCURRENCY", "8"))
PAY_CONCURRENCY = int(os.environ.get("PAY_CONCURRENCY", "8"))
# When every place is taken, a look-up (or provider call) waits this long for one — unless
# every call in flight has run longer than the "stuck" time: then the dependency is hanging
# and the keeper is answered at once (docs/adr/0021).
ECS_LOOKUP_WAIT_SECONDS = float(os.environ.get("ECS_LOOKUP_WAIT_SECONDS", "1.0"))
ECS_LOOKUP_STUCK_SECONDS = float(os.environ.get("ECS_LOOKUP_STUCK_SECONDS", "1.5"))
PAY_WAIT_SECONDS = float(os.environ.get("PAY_WAIT_SECONDS", "1.0"))
PAY_STUCK_SECONDS = float(os.environ.get("PAY_STUCK_SECONDS", "3.0"))
# The outbox worker: how long one write may take, how many cases it serves at once,
# and how long a claimed event stays leased if its worker dies.
ECS_WRITE_TIMEOUT = float(os.environ.get("ECS_WRITE_TIMEOUT", "10"))
ECS_OUTBOX_CONCURRENCY = int(
    os.environ.get("ECS_OUTBOX_CONCURRENCY", "24")
)  # bench: 2 workers x 24 drain 20k in ~4.5 min
ECS_OUTBOX_LEASE_SECONDS = float(os.environ.get("ECS_OUTBOX_LEASE_SECONDS", "60"))
# Retry pacing and the shared circuit breaker (penaltypay.ecs.delivery.Policy). The defaults
# are production's; tests and benchmarks shorten them. ECS_RESPECT_BATCH_WINDOW=0 lets a
# test or benchmark run deliver between 00:30 and 02:30 London time (never in production).
ECS_BACKOFF_BASE_SECONDS = float(os.environ.get("ECS_BACKOFF_BASE_SECONDS", "2"))
ECS_BACKOFF_CAP_SECONDS = float(os.environ.get("ECS_BACKOFF_CAP_SECONDS", "300"))
ECS_BREAKER_FAILURE_THRESHOLD = int(os.environ.get("ECS_BREAKER_FAILURE_THRESHOLD", "5"))
ECS_BREAKER_MIN_OPEN_SECONDS = float(os.environ.get("ECS_BREAKER_MIN_OPEN_SECONDS", "5"))
ECS_BREAKER_MAX_OPEN_SECONDS = float(os.environ.get("ECS_BREAKER_MAX_OPEN_SECONDS", "120"))
# After a write whose outcome is unknown, wait this long (from when it began) before reading
# the ledger: ECS can apply a write well after the caller gave up, and a ledger read before
# then would miss it and write the money twice. Keep it above ECS's slowest write.
ECS_UNKNOWN_OUTCOME_SETTLE_SECONDS = float(os.environ.get("ECS_UNKNOWN_OUTCOME_SETTLE_SECONDS", "60"))
ECS_RESPECT_BATCH_WINDOW = os.environ.get("ECS_RESPECT_BATCH_WINDOW", "1") == "1"
if PRODUCTION and not ECS_RESPECT_BATCH_WINDOW:
    raise ImproperlyConfigured("ECS_RESPECT_BATCH_WINDOW=0 is for test and benchmark runs only.")

PAY_API_URL = os.environ.get("PAY_API_URL", "http://127.0.0.1:8082")
PAY_API_KEY = os.environ.get("PAY_API_KEY", "sandbox-api-key")
PAY_WEBHOOK_SECRET = os.environ.get("PAY_WEBHOOK_SECRET", "sandbox-webhook-secret")
# While the webhook secret is being rotated, the one before it is still accepted.
PAY_WEBHOOK_SECRET_PREVIOUS = os.environ.get("PAY_WEBHOOK_SECRET_PREVIOUS", "")
# The provider's published limit on POSTs (creates, cancels, refunds) per API key per second
# (GOV.UK Pay: 15). Every process and pod paces its POSTs to just under it from one shared
# schedule (Redis, or the database without it); a payer whose turn is more than
# PAY_RATE_LIMIT_MAX_WAIT_SECONDS off is asked to try again shortly. 0 switches pacing off.
PAY_RATE_LIMIT_PER_SECOND = float(os.environ.get("PAY_RATE_LIMIT_PER_SECOND", "15"))
PAY_RATE_LIMIT_MAX_WAIT_SECONDS = float(os.environ.get("PAY_RATE_LIMIT_MAX_WAIT_SECONDS", "10"))
PAY_TIMEOUT = float(os.environ.get("PAY_TIMEOUT", "10"))
# The provider's payments expire this long after they are made (GOV.UK Pay: 90 minutes): a
# live payment blocks anyone else from paying the penalty until then (docs/adr/0018).
PAY_PAYMENT_EXPIRY_MINUTES = int(os.environ.get("PAY_PAYMENT_EXPIRY_MINUTES", "90"))
# Where the provider sends the payer back: our public origin (production requires it;
# locally the request's own origin is used).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "")
# Where the provider's card page is served (its own host at a real provider): the only
# origin our "Pay" form may lead to (CSP form-action) and a next_url may point at.
# Empty: the API's origin (the sandbox serves both).
PAY_CARD_ORIGIN = os.environ.get("PAY_CARD_ORIGIN", "")

NOTIFY_API_KEY = os.environ.get("NOTIFY_API_KEY", "")
NOTIFY_BASE_URL = os.environ.get("NOTIFY_BASE_URL", "https://api.notifications.service.gov.uk")
NOTIFY_RECEIPT_TEMPLATE_ID = os.environ.get("NOTIFY_RECEIPT_TEMPLATE_ID", "")
NOTIFY_REFUND_TEMPLATE_ID = os.environ.get("NOTIFY_REFUND_TEMPLATE_ID", "")
# The Welsh templates (receipts and refund emails go in the language the keeper used).
NOTIFY_RECEIPT_TEMPLATE_ID_CY = os.environ.get("NOTIFY_RECEIPT_TEMPLATE_ID_CY", "")
NOTIFY_REFUND_TEMPLATE_ID_CY = os.environ.get("NOTIFY_REFUND_TEMPLATE_ID_CY", "")
# The receipt sender (a penaltypay.payments.ports.ReceiptSender): Notify when it is configured.
RECEIPT_SENDER = os.environ.get(
    "RECEIPT_SENDER",
    "penaltypay.adapters.notify.NotifyReceipts" if NOTIFY_API_KEY else "penaltypay.adapters.notify.EmailReceipts",
)
# Reminders before the reduced amount ends (issue 35): sent this many Europe/London days
# before the reduction deadline, by the worker every REMINDER_SEND_SECONDS; through Notify,
# one template per language for the confirmation and for the reminder (without them, in
# production, reminders are not offered).
REMINDER_DAYS_BEFORE = int(os.environ.get("REMINDER_DAYS_BEFORE", "3"))
REMINDER_SEND_SECONDS = int(os.environ.get("REMINDER_SEND_SECONDS", "900"))
NOTIFY_REMINDER_TEMPLATE_ID = os.environ.get("NOTIFY_REMINDER_TEMPLATE_ID", "")
NOTIFY_REMINDER_TEMPLATE_ID_CY = os.environ.get("NOTIFY_REMINDER_TEMPLATE_ID_CY", "")
NOTIFY_REMINDER_CONFIRM_TEMPLATE_ID = os.environ.get("NOTIFY_REMINDER_CONFIRM_TEMPLATE_ID", "")
NOTIFY_REMINDER_CONFIRM_TEMPLATE_ID_CY = os.environ.get("NOTIFY_REMINDER_CONFIRM_TEMPLATE_ID_CY", "")
# A text message too, when set: a Notify text template whose content is ((body)) (we write
# the words, in the keeper's language). Without it, reminders are by email only.
NOTIFY_REMINDER_SMS_TEMPLATE_ID = os.environ.get("NOTIFY_REMINDER_SMS_TEMPLATE_ID", "")
# The team's email about new exceptions (a penaltypay.exceptions.ports.TeamEmail): Notify when
# configured. Both senders must be adapters in penaltypay.adapters (built by its factories).
NOTIFY_TEAM_TEMPLATE_ID = os.environ.get("NOTIFY_TEAM_TEMPLATE_ID", "")
TEAM_EMAIL_SENDER = os.environ.get(
    "TEAM_EMAIL_SENDER",
    "penaltypay.adapters.notify.NotifyTeamEmail" if NOTIFY_API_KEY else "penaltypay.adapters.notify.EmailTeamEmail",
)
# Emails to staff (one-time set-up and reset links, notices): Notify's own template when
# configured (`((subject))`, `((body))`; required in production with Notify).
NOTIFY_STAFF_TEMPLATE_ID = os.environ.get("NOTIFY_STAFF_TEMPLATE_ID", "")
STAFF_MAIL_SENDER = os.environ.get(
    "STAFF_MAIL_SENDER",
    "penaltypay.adapters.notify.NotifyStaffMail" if NOTIFY_API_KEY else "penaltypay.adapters.notify.EmailStaffMail",
)
# How long a one-time link to staff works, and (optional) the domains their work email
# addresses must be on, e.g. "example.gov.uk".
STAFF_LINK_HOURS = int(os.environ.get("STAFF_LINK_HOURS", "24"))
STAFF_EMAIL_DOMAINS = [d.strip().lower() for d in os.environ.get("STAFF_EMAIL_DOMAINS", "").split(",") if d.strip()]
# Failed sign-ins from one address, across every username, in 15 minutes before that address
# must wait (password spraying); sized for a contact centre behind one address (ADR 0019).
STAFF_SIGN_IN_FAILURES_PER_ADDRESS = int(os.environ.get("STAFF_SIGN_IN_FAILURES_PER_ADDRESS", "40"))
# The daily reconciliation (docs/runbook.md): the worker reconciles yesterday at this
# Europe/London time, reading at most this many ECS ledgers at once.
RECONCILE_AT = os.environ.get("RECONCILE_AT", "06:30")
RECONCILE_ECS_CONCURRENCY = int(os.environ.get("RECONCILE_ECS_CONCURRENCY", "24"))
# Cost per transaction (a KPI): the provider's fee per payment and the service's monthly
# running cost, in pence.
KPI_PROVIDER_FEE_PENCE = int(os.environ.get("KPI_PROVIDER_FEE_PENCE", "20"))
KPI_MONTHLY_RUNNING_COST_PENCE = int(os.environ.get("KPI_MONTHLY_RUNNING_COST_PENCE", "0"))
# The REST API (docs/api.md): the largest body it reads.
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", "16384"))
# Every other request body (the keeper's and staff forms are a few kilobytes), and the bank
# statement upload (5 MiB of CSV and the form around it): refused with 413 beyond these,
# before anything reads them (penaltypay.web.body_limit).
WEB_MAX_BODY_BYTES = int(os.environ.get("WEB_MAX_BODY_BYTES", "65536"))
STATEMENT_UPLOAD_MAX_BYTES = int(os.environ.get("STATEMENT_UPLOAD_MAX_BYTES", str(5 * 1024 * 1024 + 65536)))
# Payments younger than this are not listed yet (their transactions may still be committing
# out of order; a cursor must never pass one that is not visible yet).
API_LIST_SETTLE_SECONDS = float(os.environ.get("API_LIST_SETTLE_SECONDS", "5"))
# Where new money exceptions are announced (blank: nobody is emailed; the metric still counts).
EXCEPTIONS_NOTIFY_EMAIL = os.environ.get("EXCEPTIONS_NOTIFY_EMAIL", "")
# A payment or refund still not in ECS after this long is on the exceptions queue.
EXCEPTION_STUCK_AFTER_MINUTES = int(os.environ.get("EXCEPTION_STUCK_AFTER_MINUTES", "240"))
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "penaltypay@localhost")


# Look-up rate limits (per client address, per penalty reference), per window.
LOOKUP_RATE_LIMIT_PER_ADDRESS = int(os.environ.get("LOOKUP_RATE_LIMIT_PER_ADDRESS", "20"))
LOOKUP_RATE_LIMIT_PER_REFERENCE = int(os.environ.get("LOOKUP_RATE_LIMIT_PER_REFERENCE", "5"))
LOOKUP_RATE_LIMIT_WINDOW_SECONDS = int(os.environ.get("LOOKUP_RATE_LIMIT_WINDOW_SECONDS", "900"))
# Failed look-ups across the whole service per minute above which a security event (and
# metric) says someone may be walking references.
LOOKUP_FAILURE_ALERT_PER_MINUTE = int(os.environ.get("LOOKUP_FAILURE_ALERT_PER_MINUTE", "300"))

# Card testing (penaltypay.payments.card_testing): declined card payments in 15 minutes
# against one penalty, or from one address, before online payment pauses for an hour.
CARD_TESTING_DECLINES_PER_PENALTY = int(os.environ.get("CARD_TESTING_DECLINES_PER_PENALTY", "5"))
CARD_TESTING_DECLINES_PER_ADDRESS = int(os.environ.get("CARD_TESTING_DECLINES_PER_ADDRESS", "20"))
# A caller reading card after card to an agent: that agent's phone payments pause.
CARD_TESTING_DECLINES_PER_AGENT = int(os.environ.get("CARD_TESTING_DECLINES_PER_AGENT", "10"))
CARD_TESTING_PAUSE_SECONDS = int(os.environ.get("CARD_TESTING_PAUSE_SECONDS", "3600"))
# Payment links agents send (penaltypay.payments.links): how long one works.
PAYMENT_LINK_DAYS = int(os.environ.get("PAYMENT_LINK_DAYS", "7"))
# Notify templates for payment links: email (and its Welsh), and an optional text message.
NOTIFY_PAYMENT_LINK_TEMPLATE_ID = os.environ.get("NOTIFY_PAYMENT_LINK_TEMPLATE_ID", "")
NOTIFY_PAYMENT_LINK_TEMPLATE_ID_CY = os.environ.get("NOTIFY_PAYMENT_LINK_TEMPLATE_ID_CY", "")
NOTIFY_PAYMENT_LINK_SMS_TEMPLATE_ID = os.environ.get("NOTIFY_PAYMENT_LINK_SMS_TEMPLATE_ID", "")

# Payments still in progress after this long are settled by the worker.
PAYMENT_RECHECK_AFTER_SECONDS = int(os.environ.get("PAYMENT_RECHECK_AFTER_SECONDS", "60"))
# Disputes (ADR 0022): the worker searches the provider's disputes raised in the last
# DISPUTE_LOOKBACK_DAYS this often (a dispute webhook makes it search at once as well).
DISPUTE_SYNC_SECONDS = int(os.environ.get("DISPUTE_SYNC_SECONDS", "300"))
DISPUTE_LOOKBACK_DAYS = int(os.environ.get("DISPUTE_LOOKBACK_DAYS", "200"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "penaltypay.operations.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json"},
        "security_counter": {"class": "penaltypay.operations.security_metrics.SecurityEventCounter"},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "zeep": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # The receipt PDF's layout steps, and its font subsetting: a line each, every receipt.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # Security events go to the console like every line, and are counted for /metrics.
        "penaltypay.security": {"handlers": ["security_counter"], "level": "INFO"},
    },
}

# Reverse proxies in front of the app whose X-Forwarded-For we trust (0 locally).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
CSRF_FAILURE_VIEW = "penaltypay.error_pages.csrf_failure"  # each area's own page

# Nightly ECS extract (docs/adr/0007-extract-import.md, docs/runbook.md).
EXTRACT_DROP_DIR = Path(os.environ.get("EXTRACT_DROP_DIR", VAR_DIR / "extract"))
EXTRACT_DROP_SETTLE_SECONDS = float(os.environ.get("EXTRACT_DROP_SETTLE_SECONDS", "60"))
EXTRACT_FIRST_SEQUENCE = int(os.environ.get("EXTRACT_FIRST_SEQUENCE", "1"))
EXTRACT_BULK_MIN_RECORDS = int(os.environ.get("EXTRACT_BULK_MIN_RECORDS", "200000"))
# The worker looks in the drop folder this often (0: never; use the scheduler instead).
EXTRACT_DROP_POLL_SECONDS = float(os.environ.get("EXTRACT_DROP_POLL_SECONDS", "300"))

# Operator endpoints (/ops/outbox, /metrics): a bearer token; closed in production without one.
OPS_API_TOKEN = os.environ.get("OPS_API_TOKEN", "")

# --- The back office (docs/adr/0011) -----------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out account before anything else
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "staff:sign-in"
# Staff sessions: their own cookie, only for /staff/, SameSite=Strict; 15 idle minutes,
# 8 hours at most (penaltypay.staff.sessions, .middleware).
STAFF_SESSION_COOKIE_NAME = "staff_session"
STAFF_IDLE_SECONDS = int(os.environ.get("STAFF_IDLE_SECONDS", str(15 * 60)))
STAFF_ABSOLUTE_SECONDS = int(os.environ.get("STAFF_ABSOLUTE_SECONDS", str(8 * 3600)))
# Optional: staff pages only from these networks (CIDR list), e.g. "10.0.0.0/8,192.0.2.0/24".
STAFF_ALLOWED_NETWORKS = [n.strip() for n in os.environ.get("STAFF_ALLOWED_NETWORKS", "").split(",") if n.strip()]
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Pay a vehicle enforcement penalty (staff)")
# Lock-out (django-axes): 5 failed attempts on one username in 15 minutes lock it for 15
# minutes, whether the username exists or not.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "penaltypay.staff.auth_views.locked_out"
AXES_CLIENT_IP_CALLABLE = "penaltypay.staff.middleware.client_ip"
AXES_VERBOSE = False
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # locked for 15 minutes, not for ever under attack
# axes.W006 asks for the address as a lock-out parameter too. Not here: a contact centre
# signs in from one address, and one person's typing must not lock out the floor.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

if PRODUCTION:
    _problems = production_checks.problems(globals())
    if _problems:
        raise ImproperlyConfigured(
            f"PENALTYPAY_ENV={ENVIRONMENT!r} is production, and production refuses to start: " + "; ".join(_problems)
        )

# Planned maintenance: the keeper's pages that start a payment show "service unavailable"
# (503); payments already on the card page still complete (penaltypay.citizen.info).
MAINTENANCE_MODE = os.environ.get("MAINTENANCE_MODE", "0") == "1"
MAINTENANCE_UNTIL = os.environ.get("MAINTENANCE_UNTIL", "")  # e.g. 2026-11-29T06:00 (Europe/London)

# How long personal data is kept (UK GDPR storage limitation). The privacy notice shows
# these figures; `penaltypay purge` applies them.
RETENTION_RECEIPT_EMAIL_DAYS = int(os.environ.get("RETENTION_RECEIPT_EMAIL_DAYS", "90"))
RETENTION_WEBHOOK_DAYS = int(os.environ.get("RETENTION_WEBHOOK_DAYS", "30"))
RETENTION_CLOSED_CASE_DAYS = int(os.environ.get("RETENTION_CLOSED_CASE_DAYS", "730"))
RETENTION_MONEY_YEARS = int(os.environ.get("RETENTION_MONEY_YEARS", "7"))
RETENTION_FEEDBACK_DAYS = int(os.environ.get("RETENTION_FEEDBACK_DAYS", "365"))
RETENTION_AUDIT_ADDRESS_DAYS = int(os.environ.get("RETENTION_AUDIT_ADDRESS_DAYS", "90"))
RETENTION_IDEMPOTENCY_DAYS = int(os.environ.get("RETENTION_IDEMPOTENCY_DAYS", "30"))
RETENTION_PAYMENT_LINK_DAYS = int(os.environ.get("RETENTION_PAYMENT_LINK_DAYS", "30"))  # after the link expires
PURGE_AT = os.environ.get("PURGE_AT", "03:00")  # Europe/London: the worker's daily purge
