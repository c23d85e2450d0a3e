"""`penaltypay api-client`: the token is printed once, stored hashed, refused after revoke."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from penaltypay.api.models import ApiClient
from penaltypay.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("api_client", *args, stdout=out)
    return out.getvalue()


def test_add_prints_the_token_once_and_stores_only_its_hash(api):
    made = json.loads(run("add", "telephony", "--scope", "cases:read", "--scope", "payments:write", "--json"))

    assert made["name"] == "telephony"
    assert made["scopes"] == ["cases:read", "payments:write"]
    assert made["token"].startswith("ppk_") and len(made["token"]) > 40
    stored = ApiClient.objects.get(name="telephony")
    assert made["token"] not in stored.token_hash
    assert stored.client_id == made["client_id"]
    # The printed token works; listing never shows it again.
    assert api("post", "/api/v1/case-lookups", made["token"], json={}).status_code == 422
    assert made["token"] not in run("list", "--json")
    assert AuditEntry.objects.filter(action="add-api-client", object_id="telephony").exists()


def test_list_shows_scopes_limits_and_revocation():
    run("add", "partner", "--scope", "payments:read", "--rate-limit", "30")
    run("add", "casework", "--scope", "cases:read")
    run("revoke", "partner")

    listed = json.loads(run("list", "--json"))

    assert [c["name"] for c in listed] == ["casework", "partner"]
    assert listed[1] == {
        "name": "partner",
        "client_id": listed[1]["client_id"],
        "scopes": ["payments:read"],
        "rate_limit_per_minute": 30,
        "revoked": True,
    }
    assert "partner\tpayments:read\trevoked" in run("list")


def test_revoked_token_is_refused(api):
    token = json.loads(run("add", "old", "--scope", "payments:read", "--json"))["token"]
    assert api("get", "/api/v1/payments", token).status_code == 200

    assert "revoked old" in run("revoke", "old")

    refused = api("get", "/api/v1/payments", token)
    assert refused.status_code == 401
    assert refused["Content-Type"] == "application/problem+json"
    assert AuditEntry.objects.filter(action="revoke-api-client", object_id="old").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("add", "bad name!", "--scope", "cases:read"), "letters, digits"),
        (("revoke", "nobody"), "no active client"),
    ],
)
def test_mistakes_are_explained(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_the_same_name_twice_is_refused():
    run("add", "twice", "--scope", "cases:read")
    with pytest.raises(CommandError, match="already a client"):
        run("add", "twice", "--scope", "cases:read")
