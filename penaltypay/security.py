"""Strict Content Security Policy with a per-request nonce.

GOV.UK Frontend's template has one inline script (it adds `js-enabled`); it
carries this nonce. Nothing else inline is allowed. `form-action` must name
the payment provider too: Chromium applies it to the redirect that follows
our "Pay" form post.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from django.conf import settings


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = secrets.token_urlsafe(18)
        response = self.get_response(request)
        provider = _origin(settings.PAY_API_URL)
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
