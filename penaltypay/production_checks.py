"""What production refuses to start with (docs/adr/0006-security-baseline.md).

Called at the end of settings.py when the environment is not `local` or `test`: any
other name — `staging` included — is production, so a mistyped name fails closed. Every
problem is listed at once, so an operator fixes them in one go.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)

LOCAL_ENVIRONMENTS = ("local", "test")
SANDBOX_CREDENTIALS = ("sandbox-api-key", "sandbox-webhook-secret")
MIN_TOKEN_LENGTH = 32
# Email backends that would lose a keeper's receipt in production.
LOSSY_EMAIL_BACKENDS = ("filebased", "console", "locmem", "dummy")


def is_production(environment: str) -> bool:
    return environment not in LOCAL_ENVIRONMENTS


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(name: str, url: str) -> str | None:
    """Outbound systems are reached over TLS, never on this machine."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        return f"{name} must be an https:// URL in production (it is {parts.scheme or 'not a URL'})"
    if _is_loopback(parts.hostname):
        return f"{name} must not point at this machine in production"
    return None


def problems(s: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    key = s["SECRET_KEY"]
    if (
        key == s["DEFAULT_SECRET_KEY"]
        or len(key) < SECRET_KEY_MIN_LENGTH
        or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or key.startswith(SECRET_KEY_INSECURE_PREFIX)
    ):
        found.append(
            f"SECRET_KEY must be a random value of at least {SECRET_KEY_MIN_LENGTH} characters "
            f"with at least {SECRET_KEY_MIN_UNIQUE_CHARACTERS} different ones"
        )
    if s["DEBUG"]:
        found.append("DEBUG must be off")
    for name in ("PAY_API_KEY", "PAY_WEBHOOK_SECRET"):
        if not s[name] or s[name] in SANDBOX_CREDENTIALS:
            found.append(f"{name} must be set (not the sandbox's)")
    previous = s["PAY_WEBHOOK_SECRET_PREVIOUS"]
    if previous and (previous in SANDBOX_CREDENTIALS or previous == s["PAY_WEBHOOK_SECRET"]):
        # While a secret is rotated the old one is still accepted: never the sandbox's, and a
        # copy of the new one means the rotation was not done.
        found.append(
            "PAY_WEBHOOK_SECRET_PREVIOUS must be the secret before PAY_WEBHOOK_SECRET (not the same, not the sandbox's)"
        )
    for network in s["STAFF_ALLOWED_NETWORKS"]:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            found.append(f"STAFF_ALLOWED_NETWORKS has {network!r}, which is not an address range (CIDR)")
    if s["OPS_API_TOKEN"] and len(s["OPS_API_TOKEN"]) < MIN_TOKEN_LENGTH:
        found.append(f"OPS_API_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")
    if s["DATABASES"]["default"]["ENGINE"] != "django.db.backends.postgresql":
        found.append("DATABASE_URL must point at PostgreSQL (several processes share it)")
    if not s["REDIS_URL"]:
        found.append("REDIS_URL must be set: rate limits must be shared by every process")
    hosts = list(s["ALLOWED_HOSTS"])
    if not hosts or "*" in hosts or all(_is_loopback(host.lstrip(".")) for host in hosts):
        found.append("ALLOWED_HOSTS must name the service's own host names (not '*', not only this machine)")
    if s["TRUSTED_PROXY_COUNT"] < 1:
        # Behind a load balancer the client's address is in X-Forwarded-For: with no proxy
        # trusted, every keeper shares the balancer's address and the limits count them as one.
        found.append("TRUSTED_PROXY_COUNT must be the number of proxies in front of the service (1 or more)")
    if not s["PUBLIC_BASE_URL"]:
        found.append("PUBLIC_BASE_URL must be set: the provider's return URL is never built from a request's Host")
    urls = {
        "ECS_URL": s["ECS_URL"],
        "PAY_API_URL": s["PAY_API_URL"],
        "PAY_CARD_ORIGIN": s["PAY_CARD_ORIGIN"],
        "PUBLIC_BASE_URL": s["PUBLIC_BASE_URL"],
    }
    if s["NOTIFY_API_KEY"]:
        urls["NOTIFY_BASE_URL"] = s["NOTIFY_BASE_URL"]
        # One template per email per language: a Welsh keeper gets Welsh email.
        for name in (
            "NOTIFY_RECEIPT_TEMPLATE_ID",
            "NOTIFY_REFUND_TEMPLATE_ID",
            "NOTIFY_RECEIPT_TEMPLATE_ID_CY",
            "NOTIFY_REFUND_TEMPLATE_ID_CY",
            "NOTIFY_PAYMENT_LINK_TEMPLATE_ID",
            "NOTIFY_PAYMENT_LINK_TEMPLATE_ID_CY",
        ):
            if not s[name]:
                found.append(f"{name} must be set with NOTIFY_API_KEY")
        if not s["NOTIFY_STAFF_TEMPLATE_ID"]:
            found.append("NOTIFY_STAFF_TEMPLATE_ID must be set with NOTIFY_API_KEY (staff set-up and reset links)")
        if s["EXCEPTIONS_NOTIFY_EMAIL"] and not s["NOTIFY_TEAM_TEMPLATE_ID"]:
            found.append("NOTIFY_TEAM_TEMPLATE_ID must be set with NOTIFY_API_KEY and EXCEPTIONS_NOTIFY_EMAIL")
    elif any(f".{lossy}." in s["EMAIL_BACKEND"] for lossy in LOSSY_EMAIL_BACKENDS):
        found.append(
            "receipts need GOV.UK Notify (NOTIFY_API_KEY) or a real EMAIL_BACKEND, not "
            + s["EMAIL_BACKEND"].rsplit(".", 2)[-2]
        )
    for name in ("RECEIPT_SENDER", "TEAM_EMAIL_SENDER", "STAFF_MAIL_SENDER"):
        if not s[name].startswith("penaltypay.adapters."):
            found.append(f"{name} must name an adapter in penaltypay.adapters")
    for name, url in urls.items():
        if url and (problem := url_problem(name, url)):
            found.append(problem)
    return found
