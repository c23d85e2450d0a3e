"""Production fails closed: any environment name but `local` and `test` is production, and
production refuses to start with a setting that would leave it unsafe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from penaltypay import production_checks

# What an operator sets (values are made up; the secret is long and random-looking).
SAFE_PRODUCTION_ENV = {
    "PENALTYPAY_ENV": "production",
    "SECRET_KEY": "k7Vq2mX9pL4wR8tN1yB6cF3hJ5dS0gZaE_uIoPkQrTsW-vYxMn3Bq8Lw",
    "DEBUG": "0",
    "DATABASE_URL": "postgres://penaltypay@db.internal:5432/penaltypay",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "PAY_API_KEY": "live-key",
    "PAY_WEBHOOK_SECRET": "live-secret",
    "ALLOWED_HOSTS": "pay-penalty.service.gov.uk",
    "PUBLIC_BASE_URL": "https://pay-penalty.service.gov.uk",
    "ECS_URL": "https://ecs.internal.example.gov.uk/ecs/v1",
    "PAY_API_URL": "https://publicapi.payments.service.gov.uk",
    "PAY_CARD_ORIGIN": "https://card.payments.service.gov.uk",
    "NOTIFY_API_KEY": "live-notify-key",
    "NOTIFY_RECEIPT_TEMPLATE_ID": "f33517ff-2a88-4f6e-b855-c550268ce08a",
    "NOTIFY_REFUND_TEMPLATE_ID": "0b6e1b2c-4a0b-4f7e-9d55-2f7d8e6a1c11",
    "NOTIFY_RECEIPT_TEMPLATE_ID_CY": "5a1f0c3e-7d42-4b8e-a1f6-2c9d3e4b5a60",
    "NOTIFY_REFUND_TEMPLATE_ID_CY": "8e2d4c6b-1a3f-4e5d-9b7c-0f1e2d3c4b5a",
    "NOTIFY_STAFF_TEMPLATE_ID": "1d2c3b4a-5f6e-4d7c-8b9a-0a1b2c3d4e5f",
    "NOTIFY_PAYMENT_LINK_TEMPLATE_ID": "2e3d4c5b-6a7f-4e8d-9c0b-1a2b3c4d5e6f",
    "NOTIFY_PAYMENT_LINK_TEMPLATE_ID_CY": "3f4e5d6c-7b8a-4f9e-8d1c-2b3c4d5e6f70",
    "OPS_API_TOKEN": "t" * 20 + "0123456789abcdef",
    "TRUSTED_PROXY_COUNT": "1",
}
_CLEARED = {
    *SAFE_PRODUCTION_ENV,
    "EMAIL_BACKEND",
    "PAY_WEBHOOK_SECRET_PREVIOUS",
    "DJANGO_SETTINGS_MODULE",
    "RECEIPT_SENDER",
    "TEAM_EMAIL_SENDER",
    "STAFF_MAIL_SENDER",
}


def start_with(env_overrides: dict, code: str = "print('started')") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update({"DJANGO_SETTINGS_MODULE": "penaltypay.settings", **env_overrides})
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_starts_with_real_settings():
    result = start_with(SAFE_PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize("name", ["staging", "prod", "Production", "", "preprod"])
def test_any_environment_name_but_local_and_test_is_production(name):
    result = start_with({"PENALTYPAY_ENV": name})  # with the local defaults: refused
    assert result.returncode != 0
    assert f"PENALTYPAY_ENV={name!r} is production" in result.stderr
    assert "SECRET_KEY" in result.stderr and "REDIS_URL must be set" in result.stderr


def test_a_production_environment_name_runs_as_production():
    code = (
        "from django.conf import settings; print(settings.PRODUCTION, settings.DEBUG, settings.SESSION_COOKIE_SECURE)"
    )
    result = start_with({**SAFE_PRODUCTION_ENV, "PENALTYPAY_ENV": "staging"}, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "True"]


@pytest.mark.parametrize(
    "change,complaint",
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": "a-32-character-key-is-not-enough"}, "SECRET_KEY"),
        ({"SECRET_KEY": "ab" * 30}, "SECRET_KEY"),  # long, but only two characters
        ({"SECRET_KEY": "django-insecure-" + "x1y2z3w4v5" * 5}, "SECRET_KEY"),
        ({"DEBUG": "1"}, "DEBUG"),
        ({"PAY_API_KEY": "sandbox-api-key"}, "PAY_API_KEY"),
        ({"PAY_WEBHOOK_SECRET": ""}, "PAY_WEBHOOK_SECRET"),
        ({"NOTIFY_RECEIPT_TEMPLATE_ID": ""}, "NOTIFY_RECEIPT_TEMPLATE_ID"),
        ({"NOTIFY_REFUND_TEMPLATE_ID": ""}, "NOTIFY_REFUND_TEMPLATE_ID"),
        ({"NOTIFY_RECEIPT_TEMPLATE_ID_CY": ""}, "NOTIFY_RECEIPT_TEMPLATE_ID_CY"),
        ({"NOTIFY_STAFF_TEMPLATE_ID": ""}, "NOTIFY_STAFF_TEMPLATE_ID"),
        ({"OPS_API_TOKEN": "too-short-a-token"}, "OPS_API_TOKEN"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"DATABASE_URL": ""}, "PostgreSQL"),
        ({"PUBLIC_BASE_URL": ""}, "PUBLIC_BASE_URL"),
        ({"PUBLIC_BASE_URL": "http://pay-penalty.service.gov.uk"}, "PUBLIC_BASE_URL must be an https:// URL"),
        ({"ECS_URL": "http://ecs.internal.example.gov.uk/ecs/v1"}, "ECS_URL must be an https:// URL"),
        ({"ECS_URL": "https://127.0.0.1:8081/ecs/v1"}, "ECS_URL must not point at this machine"),
        ({"PAY_API_URL": "https://localhost:8082"}, "PAY_API_URL must not point at this machine"),
        ({"PAY_CARD_ORIGIN": "http://card.payments.service.gov.uk"}, "PAY_CARD_ORIGIN must be an https:// URL"),
        ({"NOTIFY_BASE_URL": "https://[::1]:8443"}, "NOTIFY_BASE_URL must not point at this machine"),
        ({"NOTIFY_API_KEY": "", "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend"}, "filebased"),
        ({"NOTIFY_API_KEY": ""}, "filebased"),  # the default backend writes files
        ({"PAY_WEBHOOK_SECRET_PREVIOUS": "sandbox-webhook-secret"}, "PAY_WEBHOOK_SECRET_PREVIOUS"),
        ({"PAY_WEBHOOK_SECRET_PREVIOUS": "live-secret"}, "PAY_WEBHOOK_SECRET_PREVIOUS"),  # = the current one
        ({"STAFF_ALLOWED_NETWORKS": "10.0.0.0/8,10.0.0/33"}, "'10.0.0/33', which is not an address range"),
        ({"RECEIPT_SENDER": "somewhere.else.Sender"}, "RECEIPT_SENDER must name an adapter"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must name the service's own host names"),
        ({"ALLOWED_HOSTS": "localhost,127.0.0.1"}, "ALLOWED_HOSTS must name the service's own host names"),
        ({"TRUSTED_PROXY_COUNT": "0"}, "TRUSTED_PROXY_COUNT must be the number of proxies"),
        ({"TEAM_EMAIL_SENDER": "somewhere.else.send"}, "TEAM_EMAIL_SENDER must name an adapter"),
    ],
)
def test_production_refuses_unsafe_settings(change, complaint):
    env = {**SAFE_PRODUCTION_ENV, **change}
    for name, value in change.items():
        if value == "" and name in ("SECRET_KEY", "DATABASE_URL"):
            del env[name]
    result = start_with(env)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_a_previous_webhook_secret_and_staff_networks_that_are_real_are_accepted():
    env = {
        **SAFE_PRODUCTION_ENV,
        "PAY_WEBHOOK_SECRET_PREVIOUS": "the-secret-before-rotation",
        "STAFF_ALLOWED_NETWORKS": "10.20.0.0/16, 2001:db8::/48",
    }
    result = start_with(env)
    assert result.returncode == 0, result.stderr


def test_every_problem_is_named_at_once():
    result = start_with({**SAFE_PRODUCTION_ENV, "DEBUG": "1", "REDIS_URL": "", "ECS_URL": "http://ecs"})
    assert result.returncode != 0
    for complaint in ("DEBUG must be off", "REDIS_URL must be set", "ECS_URL must be an https:// URL"):
        assert complaint in result.stderr


def test_smtp_is_a_real_email_backend():
    result = start_with(
        {**SAFE_PRODUCTION_ENV, "NOTIFY_API_KEY": "", "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend"}
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "url,ok",
    [
        ("https://ecs.example.gov.uk/ecs/v1", True),
        ("https://10.0.0.7:8443/ecs", True),
        ("http://ecs.example.gov.uk", False),
        ("https://127.0.0.2/ecs", False),
        ("https://LOCALHOST/ecs", False),
        ("https://api.localhost/ecs", False),
        ("https://[::1]/ecs", False),
        ("not a url", False),
    ],
)
def test_outbound_urls_are_https_and_not_this_machine(url, ok):
    assert (production_checks.url_problem("X", url) is None) is ok


def test_penaltypay_run_refuses_production():
    code = "from django.core.management import call_command; call_command('run')"
    result = start_with(SAFE_PRODUCTION_ENV, code)
    assert result.returncode != 0
    assert "local all-in-one" in result.stderr
