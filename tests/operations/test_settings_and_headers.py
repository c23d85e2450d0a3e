"""Operator-facing guarantees: production refuses unsafe settings; every page carries
strict security headers; health checks answer."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.django_db

SAFE_PRODUCTION_ENV = {
    "PENALTYPAY_ENV": "production",
    "SECRET_KEY": "x" * 50,
    "DEBUG": "0",
    "PAY_API_KEY": "live-key",
    "PAY_WEBHOOK_SECRET": "live-secret",
    "ALLOWED_HOSTS": "pay-penalty.example.gov.uk",
}


def start_with(env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SAFE_PRODUCTION_ENV and k != "DJANGO_SETTINGS_MODULE"}
    env.update({"DJANGO_SETTINGS_MODULE": "penaltypay.settings", **env_overrides})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_starts_with_real_settings():
    result = start_with(SAFE_PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize(
    "change,complaint",
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"DEBUG": "1"}, "DEBUG"),
        ({"PAY_API_KEY": "sandbox-api-key"}, "PAY_API_KEY"),
        ({"PAY_WEBHOOK_SECRET": ""}, "PAY_WEBHOOK_SECRET"),
        ({"NOTIFY_API_KEY": "k"}, "NOTIFY_RECEIPT_TEMPLATE_ID"),
    ],
)
def test_production_refuses_unsafe_settings(change, complaint):
    env = {**SAFE_PRODUCTION_ENV, **change}
    if change.get("SECRET_KEY") == "":
        del env["SECRET_KEY"]
    result = start_with(env)
    assert result.returncode != 0
    assert complaint in result.stderr


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
    assert client.get("/healthz").json() == {"status": "ok"}
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
