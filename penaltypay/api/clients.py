"""Adding, listing and revoking API clients (the `penaltypay api-client` command)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from django.utils import timezone

from penaltypay.api.models import ApiClient

SCOPES = ("cases:read", "payments:read", "payments:write")
NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


class ClientError(Exception):
    pass


@dataclass(frozen=True)
class NewClient:
    client: ApiClient
    token: str  # shown once


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_client(name: str, scopes: list[str], rate_limit_per_minute: int = 120) -> NewClient:
    if not NAME.fullmatch(name):
        raise ClientError("the name is 1-100 letters, digits, full stops, hyphens and underscores")
    if ApiClient.objects.filter(name=name).exists():
        raise ClientError(f"there is already a client called {name!r}")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ClientError(f"scopes must be among {', '.join(SCOPES)}")
    token = "ppk_" + secrets.token_urlsafe(32)
    client = ApiClient.objects.create(
        name=name,
        client_id=secrets.token_hex(8),
        token_hash=token_hash(token),
        scopes=sorted(set(scopes)),
        rate_limit_per_minute=rate_limit_per_minute,
    )
    return NewClient(client, token)


def revoke_client(name: str) -> ApiClient:
    client = ApiClient.objects.filter(name=name, revoked_at__isnull=True).first()
    if client is None:
        raise ClientError(f"there is no active client called {name!r}")
    ApiClient.objects.filter(pk=client.pk).update(revoked_at=timezone.now())
    client.refresh_from_db()
    return client


def client_for_token(token: str) -> ApiClient | None:
    if not token:
        return None
    return ApiClient.objects.filter(token_hash=token_hash(token), revoked_at__isnull=True).first()
