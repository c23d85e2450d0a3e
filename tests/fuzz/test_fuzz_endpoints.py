"""Bad input never gets a 500 and never changes a payment (hypothesis)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from penaltypay.payments.models import Payment
from tests.citizen.conftest import find

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ = hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text a keeper (or an attacker) might type: printable, control characters, other scripts, huge.
typed = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789 -", max_size=20),
    st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789 abc", max_size=12),
    st.text(min_size=1000, max_size=3000),
    st.sampled_from(["\x00", "1234\x005678", "' OR 1=1 --", "<script>alert(1)</script>", "１２３４５６７８"]),
)


@pytest.fixture
def payment_in_progress(client, reduced_case, provider):
    find(client, reduced_case.reference, reduced_case.vrm)
    assert client.post("/pay", {"email": ""}).status_code == 303
    return Payment.objects.get()


def snapshot(payment: Payment) -> tuple:
    payment.refresh_from_db()
    return (payment.status, payment.updated_at, payment.receipt_sent_at, payment.amount_pence)


@FUZZ
@given(reference=typed, registration=typed)
def test_lookup_form_never_errors(client, ecs, settings, reference, registration):
    settings.LOOKUP_RATE_LIMIT_PER_ADDRESS = 10_000
    settings.LOOKUP_RATE_LIMIT_PER_REFERENCE = 10_000
    response = client.post("/find-your-penalty", {"reference": reference, "registration": registration})
    assert response.status_code in (200, 302, 429, 503)


@FUZZ
@given(payment_id=st.text(min_size=1, max_size=200).filter(lambda s: "/" not in s and "\x00" not in s))
def test_return_and_complete_pages_never_error_and_change_nothing(client, payment_in_progress, payment_id):
    before = snapshot(payment_in_progress)
    for path in ("/pay/return/", "/pay/complete/"):
        response = client.get(path + payment_id)
        assert response.status_code in (200, 302, 404)
    assert snapshot(payment_in_progress) == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=6),
    max_leaves=20,
)


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=500),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {
                "webhook_message_id": st.text(max_size=80),
                "event_type": st.text(max_size=50),
                "resource_id": st.text(max_size=80),
                "resource": json_values,
            }
        ).map(lambda v: json.dumps(v).encode()),
    ),
    signed=st.booleans(),
)
def test_webhook_endpoint_never_errors_and_changes_nothing(client, payment_in_progress, settings, body, signed):
    before = snapshot(payment_in_progress)
    headers = {}
    if signed:
        headers["HTTP_PAY_SIGNATURE"] = hmac.new(settings.PAY_WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post("/webhooks/pay", data=body, content_type="application/json", **headers)
    assert response.status_code in (200, 400, 401)
    if not signed:
        assert response.status_code == 401
    assert snapshot(payment_in_progress) == before
