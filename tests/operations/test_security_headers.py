"""Every page carries strict security headers; health checks answer; forms are CSRF
protected. (What production refuses: test_production_settings.py.)"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/find-your-penalty", "/no-such-page"])
def test_every_page_has_strict_security_headers(client, path):
    response = client.get(path)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.content.decode()  # GOV.UK Frontend's one inline script
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"]


def test_nonce_differs_on_every_response(client):
    first = client.get("/")["Content-Security-Policy"]
    second = client.get("/")["Content-Security-Policy"]
    assert first != second


def test_the_provider_is_allowed_as_a_form_target_for_the_pay_redirect(client, settings):
    settings.PAY_API_URL = "https://publicapi.payments.example:8443/v1"
    assert "form-action 'self' https://publicapi.payments.example:8443" in client.get("/")["Content-Security-Policy"]


def test_health_checks(client):
    live = client.get("/healthz").json()
    assert live["status"] == "ok" and live["release"] and live["schema"]["payments"]
    assert client.get("/readyz").json() == {"status": "ok", "database": "up"}


def test_forms_are_csrf_protected():
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/find-your-penalty", {"reference": "12345678", "registration": "AB12CDE"})
    assert response.status_code == 403
    assert "Your session has expired" in response.content.decode()


def test_unknown_page_is_a_gov_uk_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_a_wrong_operator_token_is_refused_and_is_a_security_event(client, settings, caplog):
    import logging

    settings.OPS_API_TOKEN = "o" * 40
    with caplog.at_level(logging.INFO, logger="penaltypay.security"):
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "o" * 40).status_code == 200
    events = [(r.security_event, r.path, r.token_given) for r in caplog.records if hasattr(r, "security_event")]
    assert events == [("operator_token_refused", "/metrics", True), ("operator_token_refused", "/metrics", False)]
    assert "o" * 40 not in caplog.text


def test_security_events_are_counted_in_the_metrics(client, settings):
    settings.OPS_API_TOKEN = "o" * 40

    def refused_so_far() -> float:
        text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "o" * 40).content.decode()
        for line in text.splitlines():
            if line.startswith('penaltypay_security_events_total{event="operator_token_refused"}'):
                return float(line.split()[-1])
        return 0.0

    before = refused_so_far()
    client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    client.get("/metrics")
    assert refused_so_far() - before == 2


def test_templates_cannot_read_the_settings():
    from django.template import engines
    from jinja2.exceptions import UndefinedError

    env = engines["jinja2"].env
    assert "settings" not in env.globals
    with pytest.raises(UndefinedError):
        engines["jinja2"].from_string("{{ settings.SECRET_KEY }}").render({})
