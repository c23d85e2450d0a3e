"""Tokens, scopes, revocation, each client's rate limit, and the audit log."""

from __future__ import annotations

import pytest

from penaltypay.api.clients import revoke_client
from penaltypay.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

LOOKUP = {"reference": "70000001", "registration": "AB12CDE"}


def test_no_token_a_wrong_one_and_a_revoked_one_are_401(api, api_token, ecs):
    token = api_token("cases:read")
    for given in (None, "ppk_not-a-token"):
        response = api("post", "/api/v1/case-lookups", given, json=LOOKUP)
        assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
        assert response.json()["type"] == "/api/v1/problems/unauthorised"
        assert response["WWW-Authenticate"].startswith("Bearer")
    revoke_client("client-0")
    assert api("post", "/api/v1/case-lookups", token, json=LOOKUP).status_code == 401


def test_a_token_without_the_scope_is_403(api, api_token, ecs):
    token = api_token("payments:read")
    response = api("post", "/api/v1/case-lookups", token, json=LOOKUP)
    assert response.status_code == 403 and response.json()["type"] == "/api/v1/problems/forbidden"
    assert api("get", "/api/v1/payments", token).status_code == 200
    assert (
        api("post", "/api/v1/payments", token, json={**LOOKUP, "return_url": "https://x.example/"}).status_code == 403
    )


def test_each_client_has_its_own_rate_limit(api, api_token, ecs, reduced_case):
    slow, other = api_token("payments:read", rate_limit=3), api_token("payments:read")
    assert [api("get", "/api/v1/payments", slow).status_code for _ in range(3)] == [200] * 3
    limited = api("get", "/api/v1/payments", slow)
    assert limited.status_code == 429 and 1 <= int(limited["Retry-After"]) <= 60
    assert limited.json()["type"] == "/api/v1/problems/rate-limited"
    assert api("get", "/api/v1/payments", other).status_code == 200


def test_every_call_is_audited_with_the_clients_name(api, api_token, reduced_case):
    token = api_token("cases:read")
    api("post", "/api/v1/case-lookups", token, json=LOOKUP)
    api("post", "/api/v1/case-lookups", token, json={**LOOKUP, "registration": "ZZ99ZZZ"})
    api("get", "/api/v1/payments", token)
    rows = list(AuditEntry.objects.order_by("id").values_list("actor", "actor_kind", "action", "outcome"))
    assert rows == [
        ("client-0", "api-client", "api:case-lookup", "success"),
        ("client-0", "api-client", "api:case-lookup", "failure"),
        ("client-0", "api-client", "api:payments:read", "refused"),
    ]
