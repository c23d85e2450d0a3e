"""Strict Content Security Policy with a per-request nonce.

GOV.UK Frontend's template has one inline script (it adds `js-enabled`); it
carries this nonce. Nothing else inline is allowed. `form-action` must name
the provider's card page too (PAY_CARD_ORIGIN, which a real provider serves from
another host than its API): Chromium applies it to the redirect that follows our
"Pay" form post.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from django.conf import settings


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def card_origin() -> str:
    return _origin(settings.PAY_CARD_ORIGIN or settings.PAY_API_URL)


def card_page_allowed(url: str) -> bool:
    """A provider's `next_url` is followed only to the card page's origin (PAY_CARD_ORIGIN),
    and only over https in production: a tampered answer must not become an open redirect."""
    parts = urlsplit(url)
    if settings.PRODUCTION and parts.scheme != "https":
        return False
    return bool(parts.hostname) and _origin(url) == card_origin()


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(18)
        response = self.get_response(request)
        provider = card_origin()
        form_action = "'self'" + (f" {provider}" if provider else "")
        policy = "; ".join(
            [
                "default-src 'self'",
                f"script-src 'self' 'nonce-{request.csp_nonce}'",
                "style-src 'self'",
                "img-src 'self' data:",
                "font-src 'self'",
                "connect-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "frame-ancestors 'none'",
                f"form-action {form_action}",
            ]
        )
        response.setdefault("Content-Security-Policy", policy)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        response.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if not getattr(response, "cacheable", False):
            # Pages show a penalty and a payment: never keep them in shared caches.
            response.setdefault("Cache-Control", "no-store")
        return response


def client_address(request) -> str:
    """The caller's address (behind N trusted proxies, the Nth from the right of
    X-Forwarded-For: what the outermost trusted proxy saw); an IPv6 address as its /64."""
    trusted = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    address = request.META.get("REMOTE_ADDR", "") or "unknown"
    if trusted > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= trusted:
            address = forwarded[-trusted]
    return group_address(address)


def group_address(address: str) -> str:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
