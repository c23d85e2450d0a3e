"""A payment's pages belong to the browser session that started the payment, and the keeper
is only ever sent to the provider's own card page."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from penaltypay.payments.models import Payment
from penaltypay.security import card_page_allowed
from penaltypay.staff.sessions import TOUCHED
from tests.citizen.conftest import find
from tests.providers import hold_the_providers_turns

pytestmark = pytest.mark.django_db(transaction=True)

SUCCESS_CARD = "4444333322221111"


def paid_in(client, case, provider, email="keeper@example.com") -> Payment:
    find(client, case.reference, case.vrm)
    client.post("/pay", {"email": email})
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, SUCCESS_CARD)
    return payment


@pytest.mark.parametrize("page", ["return", "complete"])
def test_a_fresh_browser_with_the_link_learns_nothing(client, reduced_case, provider, page, caplog):
    payment = paid_in(client, reduced_case, provider)
    stranger = Client()
    with caplog.at_level(logging.INFO, logger="penaltypay.security"):
        response = stranger.get(f"/pay/{page}/{payment.id}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "We cannot show this payment here" in html
    assert "we have emailed a receipt" in html  # how a keeper who lost their session checks
    for secret in ("keeper@example.com", payment.reference, "1111", "£40", reduced_case.reference):
        assert secret not in html
    assert [r.security_event for r in caplog.records if hasattr(r, "security_event")] == ["payment_page_other_session"]
    # and the stranger's visit settled nothing on the payer's behalf
    payment.refresh_from_db()
    assert payment.status == "in_progress"


def test_the_payer_sees_the_confirmation_once_then_the_session_ends(client, reduced_case, provider):
    payment = paid_in(client, reduced_case, provider)
    assert client.get(f"/pay/return/{payment.id}")["Location"] == f"/pay/complete/{payment.id}"
    first = client.get(f"/pay/complete/{payment.id}").content.decode()
    assert "Payment complete" in first and "keeper@example.com" in first
    assert "sessionid" not in client.cookies or not client.cookies["sessionid"].value
    again = client.get(f"/pay/complete/{payment.id}").content.decode()
    assert "We cannot show this payment here" in again and "keeper@example.com" not in again


def _session_row(client):
    return Session.objects.get(session_key=client.cookies["sessionid"].value)


def _session_writes(call):
    with CaptureQueriesContext(connection) as queries:
        call()
    sqls = [q["sql"] for q in queries.captured_queries]
    return [sql for sql in sqls if sql.startswith(("UPDATE", "INSERT")) and "django_session" in sql]


def test_a_session_in_use_lives_on_and_is_written_at_most_once_a_minute(client, reduced_case, provider):
    find(client, reduced_case.reference, reduced_case.vrm)
    assert _session_row(client).expire_date > timezone.now() + timedelta(minutes=29)
    # Reading pages within the minute writes nothing.
    assert _session_writes(lambda: client.get("/your-penalty")) == []
    assert _session_writes(lambda: client.get("/pay")) == []
    # A minute and more since the last write: the next page pushes the idle limit on again.
    session = SessionStore(session_key=client.cookies["sessionid"].value)
    session[TOUCHED] = int(time.time()) - 61
    session.save()
    Session.objects.filter(session_key=session.session_key).update(expire_date=timezone.now() + timedelta(minutes=5))
    assert len(_session_writes(lambda: client.get("/your-penalty"))) == 1
    assert _session_row(client).expire_date > timezone.now() + timedelta(minutes=29)


def test_a_session_idle_for_30_minutes_has_ended_and_ends_with_the_browser(client, reduced_case, provider, settings):
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    find(client, reduced_case.reference, reduced_case.vrm)
    Session.objects.filter(session_key=client.cookies["sessionid"].value).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    response = client.get("/your-penalty")
    assert response.status_code == 302 and "find-your-penalty" in response["Location"]
    # An ended session is not brought back to life (the old row waits for the purge).
    assert not Session.objects.filter(expire_date__gt=timezone.now()).exists()


def test_a_session_cookie_is_a_browser_session_cookie(client, reduced_case, provider):
    find(client, reduced_case.reference, reduced_case.vrm)
    cookie = client.cookies["sessionid"]
    assert not cookie["expires"] and not cookie["max-age"]  # gone when the browser closes
    assert cookie["httponly"]


# --- the card page's origin ---------------------------------------------------------------------


@pytest.fixture
def split_provider(settings):
    """A sandbox whose card page lives on a second port, as a real provider's lives on its own host."""
    from standins.pay import SandboxProvider

    sandbox = SandboxProvider(api_keys=["sandbox-api-key"])
    sandbox.start(host="127.0.0.1", port=0, card_port=0)
    settings.PAY_API_URL = sandbox.base_url
    settings.PAY_API_KEY = "sandbox-api-key"
    settings.PAY_CARD_ORIGIN = sandbox.card_base_url
    yield sandbox
    sandbox.stop()


def test_the_keeper_is_sent_to_a_card_page_on_its_own_origin(client, reduced_case, split_provider):
    find(client, reduced_case.reference, reduced_case.vrm)
    response = client.post("/pay", {"email": ""})
    assert response.status_code == 303
    assert response["Location"].startswith(split_provider.card_base_url + "/secure/")
    assert split_provider.card_base_url != split_provider.base_url
    # The form that leads there may go there (Chromium applies form-action to the redirect).
    page = client.get("/pay")
    assert f"form-action 'self' {split_provider.card_base_url}" in page["Content-Security-Policy"]
    assert split_provider.base_url not in page["Content-Security-Policy"]


def test_a_card_page_on_any_other_origin_is_refused(client, reduced_case, split_provider, settings, caplog):
    settings.PAY_CARD_ORIGIN = split_provider.base_url  # the provider's answer names another origin
    find(client, reduced_case.reference, reduced_case.vrm)
    with caplog.at_level(logging.INFO, logger="penaltypay.security"):
        response = client.post("/pay", {"email": ""})
    assert response.status_code == 503
    assert "Location" not in response
    assert any(getattr(r, "security_event", "") == "card_page_refused" for r in caplog.records)


@pytest.mark.parametrize(
    "url,production,allowed",
    [
        ("https://card.payments.example/secure/abc", True, True),
        ("http://card.payments.example/secure/abc", True, False),  # not https in production
        ("https://card.payments.example:444/secure/abc", True, False),  # another origin
        ("https://evil.example/secure/abc", True, False),
        ("https://card.payments.example.evil.example/x", True, False),
        ("//card.payments.example/secure/abc", True, False),
        ("javascript:alert(1)", False, False),
        ("HTTPS://CARD.PAYMENTS.EXAMPLE/secure/abc", True, True),
    ],
)
def test_only_the_card_origin_is_followed(url, production, allowed):
    with override_settings(PRODUCTION=production, PAY_CARD_ORIGIN="https://card.payments.example"):
        assert card_page_allowed(url) is allowed


def test_when_every_provider_place_is_taken_the_keeper_is_asked_to_try_again_in_a_minute(
    client, reduced_case, provider, settings
):
    from penaltypay.adapters.factories import PROVIDER_CALLS

    settings.PAY_CONCURRENCY = 1
    find(client, reduced_case.reference, reduced_case.vrm)
    with PROVIDER_CALLS.try_enter() as entered:  # another keeper's call is in flight
        assert entered
        response = client.post("/pay", {"email": ""})
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert "Sorry, the service is busy" in response.content.decode()
    # Nothing reached the provider; the keeper simply tries again.
    assert client.post("/pay", {"email": ""}).status_code == 303


def test_finding_a_penalty_gives_a_session_that_already_existed_a_new_key(client, reduced_case, provider):
    """No fixation: a session someone else may know (here one that chose Welsh) is replaced
    when the keeper finds a penalty, and keeps what it held."""
    client.get("/find-your-penalty?lang=cy")
    before = client.cookies["sessionid"].value
    find(client, reduced_case.reference, reduced_case.vrm)
    after = client.cookies["sessionid"].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert 'lang="cy"' in client.get("/your-penalty").content.decode()  # the choice went with it


def test_a_session_key_nobody_issued_is_never_adopted(client, reduced_case, provider):
    client.cookies["sessionid"] = "planted0key0that0nobody0issued00"
    find(client, reduced_case.reference, reduced_case.vrm)
    assert client.cookies["sessionid"].value != "planted0key0that0nobody0issued00"
    assert client.get("/your-penalty").status_code == 200


def test_at_the_providers_rate_limit_the_keeper_is_asked_to_try_again_in_seconds_and_keeps_their_place(
    client, reduced_case, provider, settings
):
    settings.PAY_RATE_LIMIT_MAX_WAIT_SECONDS = 1
    find(client, reduced_case.reference, reduced_case.vrm)
    hold_the_providers_turns(4)
    response = client.post("/pay", {"email": "keeper@example.com"})
    assert response.status_code == 503 and 1 <= int(response["Retry-After"]) <= 4
    page = response.content.decode()
    assert "Sorry, the service is busy" in page and "Nothing has been paid" in page
    assert 'href="/pay"' in page  # back to the same step: the look-up and the address are kept
    assert 'value="keeper@example.com"' in client.get("/pay").content.decode()
    # Nothing reached the provider, and nothing is left live on the penalty to block the next try.
    assert list(Payment.objects.values_list("status", "provider_payment_id")) == [("create_failed", "")]
    time.sleep(int(response["Retry-After"]))
    assert client.post("/pay", {"email": "keeper@example.com"}).status_code == 303  # to the card page


def test_a_welsh_keeper_at_the_providers_rate_limit_is_told_in_welsh(client, reduced_case, provider, settings):
    settings.PAY_RATE_LIMIT_MAX_WAIT_SECONDS = 1
    client.get("/find-your-penalty?lang=cy")
    find(client, reduced_case.reference, reduced_case.vrm)
    hold_the_providers_turns(4)
    page = client.post("/pay", {"email": ""}).content.decode()
    assert 'lang="cy"' in page
    assert "Mae’n ddrwg gennym, mae’r gwasanaeth yn brysur" in page and "Rhoi cynnig arall arni" in page
