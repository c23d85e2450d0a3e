"""The served OpenAPI document: schemathesis against the running API with a token made by
the CLI (no server error; every answer conforms), and the committed copy of v1
(docs/api/openapi-v1.json): a breaking change fails; any other change must be committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from penaltypay.api.v1 import api
from tests.api.compat import breaking_changes
from tests.staff_helpers import penaltypay

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "api" / "openapi-v1.json"


def _schema(mode: str, **checks):
    config = SchemathesisConfig.from_dict({"generation": {"mode": mode}, "checks": checks})
    return schemathesis.openapi.from_dict(json.loads(COMMITTED.read_text()), config=config)


allowed = _schema("positive", positive_data_acceptance={"enabled": False})
refused = _schema("negative")


@pytest.fixture
def token(transactional_db, reduced_case, provider):
    made = penaltypay(
        "api-client",
        "add",
        "schemathesis",
        "--scope",
        "cases:read",
        "--scope",
        "payments:read",
        "--scope",
        "payments:write",
        "--rate-limit",
        "100000",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)["token"]


@pytest.mark.slow
@allowed.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_answer_to_an_allowed_request_conforms(case, live_server, token):
    case.call_and_validate(base_url=live_server.url, headers={"Authorization": f"Bearer {token}"})


@pytest.mark.slow
@refused.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_a_request_the_schema_does_not_allow_never_gets_a_server_error(case, live_server, token):
    case.call_and_validate(
        base_url=live_server.url, headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error]
    )


def test_v1_has_no_breaking_change_against_the_committed_copy():
    committed = json.loads(COMMITTED.read_text())
    current = api.get_openapi_schema()
    problems = breaking_changes(committed, current)
    assert not problems, "breaking change(s) to /api/v1 (make a v2 instead):\n" + "\n".join(problems)


def test_the_committed_copy_is_current():
    current = json.loads(json.dumps(api.get_openapi_schema()))
    assert current == json.loads(COMMITTED.read_text()), (
        "the API changed without breaking v1: run `make openapi` and commit docs/api/openapi-v1.json"
    )


def test_the_compatibility_check_catches_what_breaks_clients():
    before = json.loads(COMMITTED.read_text())
    after = json.loads(COMMITTED.read_text())
    del after["paths"]["/api/v1/payments/{payment_reference}"]
    after["components"]["schemas"]["PaymentOut"]["properties"].pop("amount_pence")
    after["components"]["schemas"]["LookupIn"]["required"].append("postcode")
    after["components"]["schemas"]["LookupIn"]["properties"]["postcode"] = {"type": "string"}
    found = "\n".join(breaking_changes(before, after))
    assert "GET /api/v1/payments/{payment_reference} removed" in found
    assert "PaymentOut.amount_pence removed" in found
    assert "LookupIn.postcode newly required" in found
    assert breaking_changes(before, before) == []
