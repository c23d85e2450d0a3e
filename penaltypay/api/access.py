"""Who is calling: a bearer token per client, its scopes, its own rate limit, and an audit
row for every call."""

from __future__ import annotations

import time

from django.http import HttpRequest
from ninja.security import HttpBearer

from penaltypay import ratelimits
from penaltypay.api.clients import client_for_token
from penaltypay.api.models import ApiClient
from penaltypay.api.problems import Problem
from penaltypay.audit.log import record
from penaltypay.security import client_address


class ClientToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiClient | None:
        client = client_for_token(token)
        if client is not None:
            _within_rate_limit(client)
        return client


def _within_rate_limit(client: ApiClient) -> None:
    """A fixed one-minute window per client, counted atomically (Redis INCR in production)."""
    now = int(time.time())
    window = now - now % 60
    used = ratelimits.count(f"ratelimit:api:{client.pk}:{window}", timeout=70)
    if used > client.rate_limit_per_minute:
        raise Problem(
            429,
            "rate-limited",
            f"At most {client.rate_limit_per_minute} requests a minute",
            headers={"Retry-After": str(window + 60 - now)},
        )


def caller(request: HttpRequest, scope: str) -> ApiClient:
    client: ApiClient = request.auth  # type: ignore[attr-defined]
    if scope not in client.scopes:
        audit(request, f"api:{scope}", outcome="refused", detail="scope missing")
        raise Problem(403, "forbidden", f"This needs the scope {scope}")
    return client


def audit(
    request: HttpRequest,
    action: str,
    *,
    object_type: str = "",
    object_id: str = "",
    outcome: str = "success",
    detail: str = "",
) -> None:
    client: ApiClient | None = getattr(request, "auth", None)
    record(
        client.name if client else "-",
        action,
        actor_kind="api-client",
        object_type=object_type,
        object_id=object_id,
        address=client_address(request),
        outcome=outcome,
        detail=detail,
    )
