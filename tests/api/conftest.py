import pytest

from penaltypay.api.clients import add_client


@pytest.fixture(autouse=True)
def list_at_once(settings):
    """Payments listed as soon as they are made (the production hold-back has its own test)."""
    settings.API_LIST_SETTLE_SECONDS = 0


@pytest.fixture
def api_token(db):
    """api_token("cases:read", ...) -> a bearer token for a new client with those scopes."""
    made = []

    def token(*scopes: str, rate_limit: int = 120) -> str:
        new = add_client(f"client-{len(made)}", list(scopes), rate_limit)
        made.append(new)
        return new.token

    return token


@pytest.fixture
def api(client):
    """call(method, path, token, json=...) with the test client."""

    def call(method, path, token=None, json=None, **headers):
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        if token:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        if json is not None:
            import json as _json

            return getattr(client, method)(path, data=_json.dumps(json), content_type="application/json", **extra)
        return getattr(client, method)(path, **extra)

    return call
