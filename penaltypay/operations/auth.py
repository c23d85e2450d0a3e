"""Who may read the operator endpoints (/ops/..., /metrics): a bearer token."""

from __future__ import annotations

from django.conf import settings
from django.utils.crypto import constant_time_compare

from penaltypay.kernel.security_events import OPERATOR_TOKEN_REFUSED, security_event


def operator_allowed(request) -> bool:
    """Operator endpoints need OPS_API_TOKEN as a bearer token when it is set; in
    production they are closed until it is."""
    token = settings.OPS_API_TOKEN
    if not token:
        return not settings.PRODUCTION
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if constant_time_compare(given, token):
        return True
    security_event(OPERATOR_TOKEN_REFUSED, path=request.path, token_given=bool(given))
    return False
