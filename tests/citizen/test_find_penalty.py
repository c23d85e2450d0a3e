"""Finding a penalty: validation, the identical not-found message, rate limits, ECS being away."""

from __future__ import annotations

import pytest

from penaltypay.cases.models import CaseRecord
from tests.citizen.conftest import find, without_csrf

pytestmark = pytest.mark.django_db

NOT_FOUND = "We could not find a penalty with that reference and registration number"


def test_start_page_says_what_you_need(client):
    page = client.get("/").content.decode()
    assert "Start now" in page
    assert "8-digit penalty reference" in page
    assert "registration number" in page


def test_reference_and_registration_are_normalised_as_typed(client, reduced_case):
    response = find(client, " 7000-0001 ", "ab12 cde")
    assert response.status_code == 302 and response["Location"] == "/your-penalty"
    page = client.get("/your-penalty").content.decode()
    assert "You need to pay £40" in page
    assert "Late licensing penalty" in page
    assert "Blue Ford" in page


@pytest.mark.parametrize(
    "reference,registration,messages",
    [
        ("", "", ["Enter your penalty reference", "Enter the vehicle registration number"]),
        ("1234567", "AB12CDE", ["Penalty reference must be 8 numbers"]),
        ("1234567X", "AB12CDE", ["Penalty reference must only include numbers 0 to 9"]),
        ("12345678", "AB12CDEFG", ["Registration number must be 7 characters or fewer"]),
        ("12345678", "AB-12", ["Registration number must only include letters a to z and numbers"]),
    ],
)
def test_empty_or_malformed_input_gets_field_errors_and_a_summary(client, ecs, reference, registration, messages):
    response = find(client, reference, registration)
    page = response.content.decode()
    assert response.status_code == 200
    assert "There is a problem" in page  # GOV.UK error summary
    assert "<title>Error:" in page
    for message in messages:
        assert page.count(message) == 2  # in the summary and beside the field


def test_unknown_reference_and_wrong_vehicle_get_the_same_page(client, reduced_case):
    unknown = find(client, "99999999", "AB12CDE")
    mismatch = find(client, reduced_case.reference, "ZZ99ZZZ")
    assert unknown.status_code == mismatch.status_code == 200
    unknown_page = without_csrf(unknown.content.decode()).replace("99999999", "REF")
    mismatch_page = without_csrf(mismatch.content.decode()).replace(reduced_case.reference, "REF")
    assert NOT_FOUND in unknown_page
    assert unknown_page.replace("AB12CDE", "VRM") == mismatch_page.replace("ZZ99ZZZ", "VRM")


def test_failed_lookups_for_one_reference_are_rate_limited(client, reduced_case, settings):
    settings.LOOKUP_RATE_LIMIT_PER_REFERENCE = 3
    for _ in range(3):
        assert NOT_FOUND in find(client, reduced_case.reference, "ZZ99ZZZ").content.decode()
    blocked = find(client, reduced_case.reference, reduced_case.vrm)
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) > 0
    assert "Too many attempts" in blocked.content.decode()
    assert "Try again in" in blocked.content.decode()


def test_lookups_from_one_address_are_rate_limited(client, reduced_case, settings):
    settings.LOOKUP_RATE_LIMIT_PER_ADDRESS = 2
    find(client, "11111111", "A1")
    find(client, "22222222", "A1")
    assert find(client, "33333333", "A1").status_code == 429


def test_while_ecs_is_down_a_case_we_hold_can_still_be_found(client, reduced_case, ecs):
    find(client, reduced_case.reference, reduced_case.vrm)  # ECS answers; we remember the case
    assert CaseRecord.objects.filter(reference=reduced_case.reference).exists()
    ecs.set_faults(unavailable=True)
    response = find(client, reduced_case.reference, reduced_case.vrm)
    assert response.status_code == 302
    page = client.get("/your-penalty").content.decode()
    assert "You need to pay £40" in page
    assert "unavailable" not in page.lower()


def test_while_ecs_is_down_the_local_store_still_checks_the_vehicle(client, reduced_case, ecs):
    find(client, reduced_case.reference, reduced_case.vrm)
    ecs.set_faults(unavailable=True)
    response = find(client, reduced_case.reference, "ZZ99ZZZ")
    assert response.status_code in (200, 503)
    assert "You need to pay" not in response.content.decode()


def test_while_ecs_is_down_an_unknown_case_gets_a_calm_try_later_page(client, ecs, reduced_case):
    ecs.set_faults(unavailable=True)
    response = find(client, reduced_case.reference, reduced_case.vrm)
    assert response.status_code == 503
    assert "Try again later" in response.content.decode()


def test_an_ecs_timeout_falls_back_to_the_local_store(client, reduced_case, ecs, settings):
    find(client, reduced_case.reference, reduced_case.vrm)
    settings.ECS_LOOKUP_TIMEOUT = 0.3
    ecs.set_faults(latency_ms=2000)
    assert find(client, reduced_case.reference, reduced_case.vrm).status_code == 302
