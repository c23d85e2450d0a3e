"""POST /api/v1/case-lookups: the keepers' rules, and bad input never a 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(api_token):
    return api_token("cases:read")


def test_a_case_and_the_amount_due_now(api, token, reduced_case):
    response = api("post", "/api/v1/case-lookups", token, json={"reference": "7000 0001", "registration": "ab12 cde"})
    body = response.json()
    assert response.status_code == 200
    assert (body["reference"], body["registration"], body["payable"]) == ("70000001", "AB12CDE", True)
    assert body["amount_due"] == {
        "total_pence": 4000,
        "penalty_pence": 4000,
        "reduced": True,
        "arrears_pence": 0,
        "already_paid_pence": 0,
    }


def test_no_such_reference_and_the_wrong_vehicle_get_one_answer(api, token, reduced_case):
    unknown = api("post", "/api/v1/case-lookups", token, json={"reference": "79999999", "registration": "AB12CDE"})
    mismatch = api("post", "/api/v1/case-lookups", token, json={"reference": "70000001", "registration": "ZZ99ZZZ"})
    assert unknown.status_code == mismatch.status_code == 404
    assert unknown.content == mismatch.content
    assert unknown.json()["type"] == "/api/v1/problems/case-not-found"


def test_the_per_reference_limit_applies(api, token, reduced_case, settings):
    settings.LOOKUP_RATE_LIMIT_PER_REFERENCE = 3
    wrong = {"reference": "70000001", "registration": "ZZ99ZZZ"}
    assert [api("post", "/api/v1/case-lookups", token, json=wrong).status_code for _ in range(3)] == [404] * 3
    limited = api("post", "/api/v1/case-lookups", token, json={"reference": "70000001", "registration": "AB12CDE"})
    assert limited.status_code == 429 and limited.json()["type"] == "/api/v1/problems/lookups-limited"
    assert int(limited["Retry-After"]) > 0


def test_a_clients_failed_lookups_never_lock_keepers_or_other_clients_out(
    api, api_token, token, reduced_case, settings, client
):
    settings.LOOKUP_RATE_LIMIT_PER_REFERENCE = 3
    wrong = {"reference": "70000001", "registration": "ZZ99ZZZ"}
    for _ in range(5):
        api("post", "/api/v1/case-lookups", token, json=wrong)  # this client is now limited on the reference
    keeper = client.post("/find-your-penalty", {"reference": "70000001", "registration": "AB12CDE"})
    assert keeper.status_code == 302 and keeper.url.endswith("/your-penalty")
    other = api_token("cases:read")
    right = {"reference": "70000001", "registration": "AB12CDE"}
    assert api("post", "/api/v1/case-lookups", other, json=right).status_code == 200


def test_ecs_away_with_nothing_held_is_503(api, token, ecs):
    ecs.set_faults(refuse_connections_for_seconds=30)
    response = api("post", "/api/v1/case-lookups", token, json={"reference": "70000001", "registration": "AB12CDE"})
    assert response.status_code == 503 and response["Retry-After"] == "60"


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "kind"),
    [
        (b"{not json", "application/json", 400, "malformed-json"),
        (b"[]", "application/json", 422, "invalid-request"),
        (b'{"reference": 70000001, "registration": "AB12CDE"}', "application/json", 422, "invalid-request"),
        (b'{"reference": "70000001"}', "application/json", 422, "invalid-request"),
        (
            b'{"reference": "70000001", "registration": "AB12CDE", "extra": 1}',
            "application/json",
            422,
            "invalid-request",
        ),
        (b'{"reference": "1234", "registration": "AB12CDE"}', "application/json", 422, "invalid-request"),
        (b'{"reference": "' + b"7" * 20000 + b'", "registration": "x"}', "application/json", 413, "body-too-large"),
    ],
)
def test_bad_input_gets_a_specific_problem_never_a_500(client, token, raw, content_type, status, kind):
    response = client.post(
        "/api/v1/case-lookups", data=raw, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == f"/api/v1/problems/{kind}"
