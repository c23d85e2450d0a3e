"""What an operator sees: every request counted and timed by view, calls to ECS, the
provider and Notify by operation, look-up outcomes, database figures the alerts watch;
and one request id on every log line of a request and of the worker's work for it."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from penaltypay.ecs.models import OutboxEvent
from penaltypay.kernel import request_id
from penaltypay.operations.logging import JsonFormatter
from penaltypay.payments.models import Payment
from tests.citizen.conftest import find
from tests.ecs_helpers import deliver

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "o" * 40


def metric(client, name: str, **labels: str) -> float:
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.split()[-1])
    return total


@pytest.fixture
def ops(settings):
    settings.OPS_API_TOKEN = TOKEN


def test_requests_are_counted_and_timed_by_view_and_status(client, ops):
    before = metric(client, "penaltypay_http_requests_total", view="citizen:start", status="200")
    client.get("/")
    client.get("/no-such-page")
    assert metric(client, "penaltypay_http_requests_total", view="citizen:start", status="200") == before + 1
    assert metric(client, "penaltypay_http_requests_total", view="unmatched", status="404") >= 1
    assert metric(client, "penaltypay_http_request_seconds_count", view="citizen:start") >= 1


def test_look_ups_and_ecs_calls_are_counted_by_outcome(client, ops, reduced_case):
    found = metric(client, "penaltypay_lookups_total", outcome="found")
    missing = metric(client, "penaltypay_lookups_total", outcome="not_found")
    calls = metric(client, "penaltypay_outbound_call_seconds_count", system="ecs", operation="GetCase")
    find(client, reduced_case.reference, reduced_case.vrm)
    find(client, "99999999", "ZZ99ZZZ")
    assert metric(client, "penaltypay_lookups_total", outcome="found") == found + 1
    assert metric(client, "penaltypay_lookups_total", outcome="not_found") == missing + 1
    assert metric(client, "penaltypay_outbound_call_seconds_count", system="ecs", operation="GetCase") == calls + 2
    assert (
        metric(
            client, "penaltypay_outbound_call_seconds_count", system="ecs", operation="GetCase", outcome="CaseNotFound"
        )
        >= 1
    )


def test_the_figures_the_alerts_watch_are_exported(client, ops):
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    for name in (
        "penaltypay_exceptions_open",
        "penaltypay_extract_last_applied_timestamp_seconds",
        "penaltypay_ecs_outbox_oldest_waiting_seconds",
        "penaltypay_payments",
    ):
        assert f"# TYPE {name} gauge" in text, name


def test_one_request_id_from_the_keeper_to_ecs(client, reduced_case, provider, ecs, clock):
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    ours = logging.getLogger("penaltypay")
    level = ours.level
    ours.addHandler(handler)
    ours.setLevel(logging.DEBUG)
    try:
        find(client, reduced_case.reference, reduced_case.vrm)
        response = client.post("/pay", {"email": ""}, HTTP_X_REQUEST_ID="keeper-req-0001")
        assert response["X-Request-Id"] == "keeper-req-0001"
        payment = Payment.objects.get()
        assert payment.request_id == "keeper-req-0001"
        provider.complete(payment.provider_payment_id, "4444333322221111")
        client.get(f"/pay/return/{payment.id}", HTTP_X_REQUEST_ID="keeper-req-0002")
        assert OutboxEvent.objects.get().request_id == "keeper-req-0001"
        lines.seek(0)
        lines.truncate(0)
        deliver(ecs, clock)  # the worker, later, in another thread
    finally:
        ours.removeHandler(handler)
        ours.setLevel(level)
    worker_lines = [json.loads(line) for line in lines.getvalue().splitlines() if line.strip()]
    assert worker_lines, "the worker logged nothing"
    assert {line.get("request_id") for line in worker_lines} == {"keeper-req-0001"}


def test_a_made_up_request_id_is_replaced(client):
    response = client.get("/", HTTP_X_REQUEST_ID="<script>alert(1)</script>")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-Id"])
    assert request_id.current() == ""  # the id does not outlive its request
