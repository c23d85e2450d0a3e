"""The service's Prometheus metrics, in one place, for every layer to add to.

prometheus-client in multi-process mode: each web and worker process writes its own
numbers under PROMETHEUS_MULTIPROC_DIR (settings set it before anything imports this
module) and `/metrics` adds them up, so a scrape through the load balancer sees the whole
service, not one process. Figures that live in the database (the outbox backlog, payments
by state) are read at scrape time instead (operations.metrics).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SECURITY_EVENTS = Counter("penaltypay_security_events", "Security events by name (docs/security-events.md).", ["event"])
PROVIDER_RETRIES = Counter(
    "penaltypay_provider_retries",
    "Provider requests repeated after a 429 (refused before being acted on), by operation.",
    ["operation"],
)
PROVIDER_RATE_LIMITED = Counter(
    "penaltypay_provider_rate_limited",
    "Provider requests still refused with 429 after every retry (the keeper was told to try later).",
    ["operation"],
)
PROVIDER_PACING_WAIT = Histogram(
    "penaltypay_provider_pacing_wait_seconds",
    "Time a provider POST waited for its turn under the provider's published rate limit, by operation.",
    ["operation"],
    buckets=(0.0, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PROVIDER_PACED_AWAY = Counter(
    "penaltypay_provider_paced_away",
    "Provider POSTs not sent: their turn was further off than the wait allowed (the payer was asked to try again).",
    ["operation"],
)
OUTBOUND_CALLS = Histogram(
    "penaltypay_outbound_call_seconds",
    "Calls to ECS, the payment provider and Notify: time taken, by system, operation and outcome.",
    ["system", "operation", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30),
)
HTTP_REQUESTS = Counter(
    "penaltypay_http_requests",
    "Web requests answered, by view (route name), method and status.",
    ["view", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "penaltypay_http_request_seconds",
    "Time to answer a web request, by view.",
    ["view"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LOOKUPS = Counter(
    "penaltypay_lookups",
    "Case look-ups by outcome (found, not_found, not_payable_here, busy, unavailable).",
    ["outcome"],
)
RECEIPTS = Counter("penaltypay_receipts", "Receipt and refund emails by outcome (sent, failed).", ["kind", "outcome"])
EXTRACT_IMPORT_SECONDS = Histogram(
    "penaltypay_extract_import_seconds",
    "Time to load one nightly ECS extract file, by outcome.",
    ["outcome"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 2400),
)
EXTRACT_RECORDS = Counter(
    "penaltypay_extract_records",
    "Extract records loaded, by what became of them (applied, rejected, conflict).",
    ["kind"],
)
EXCEPTIONS_RAISED = Counter(
    "penaltypay_exceptions_raised",
    "New money exceptions that need a person (docs/runbook.md, the exceptions queue), by kind.",
    ["kind"],
)
