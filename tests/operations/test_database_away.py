"""The database restarting or failing over is not a fault: whoever is mid-request is told
to try again shortly (503, Retry-After), in their own area's page — never a server error.
A real fault (a bad query) is still a 500."""

from __future__ import annotations

import contextlib

import pytest
from django.db import OperationalError, ProgrammingError, connection
from django.test import Client

from penaltypay.api.clients import add_client

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def database_away(error=OperationalError("server closed the connection unexpectedly")):
    """Every query on this thread's connection fails as a restarting server fails it."""

    def fail(execute, sql, params, many, context):
        raise error

    with connection.execute_wrapper(fail):
        yield


def test_a_keeper_mid_request_gets_the_try_again_page():
    client = Client(raise_request_exception=False)
    client.get("/find-your-penalty")
    with database_away():
        response = client.post("/find-your-penalty", {"reference": "70000001", "registration": "AB12CDE"})
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "Sorry, the service is unavailable for a moment" in page
    assert "do not pay again" in page


def test_the_try_again_page_is_in_welsh_for_a_welsh_keeper():
    client = Client(raise_request_exception=False)
    client.get("/find-your-penalty?lang=cy")
    with database_away():
        response = client.get("/find-your-penalty")
    assert response.status_code == 503
    assert 'lang="cy"' in response.content.decode()


def test_a_session_that_cannot_be_saved_while_the_database_is_away_is_a_503_not_a_400():
    """Django calls any database error while saving a session "session deleted" (400)."""
    client = Client(raise_request_exception=False)
    client.get("/find-your-penalty?lang=cy")  # a session, saved

    def fail_session_writes(execute, sql, params, many, context):
        if "django_session" in sql and sql.lstrip().upper().startswith("UPDATE"):
            raise OperationalError("the database system is shutting down")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fail_session_writes):
        response = client.get("/find-your-penalty?lang=en")  # changes the session: it is saved
    assert response.status_code == 503
    assert "unavailable for a moment" in response.content.decode()


def test_staff_get_the_back_office_page():
    client = Client(raise_request_exception=False)
    client.cookies["staff_session"] = "a" * 32  # a signed-in colleague: the session is read
    with database_away():
        response = client.get("/staff/")
    assert response.status_code == 503
    assert "Sorry, the back office is unavailable for a moment" in response.content.decode()


def test_an_api_client_gets_a_problem():
    token = add_client("channel", ["cases:read"], 120).token
    client = Client(raise_request_exception=False)
    with database_away():
        response = client.post(
            "/api/v1/case-lookups",
            {"reference": "70000001", "registration": "AB12CDE"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "30"
    assert response.json()["type"].endswith("/service-unavailable")


def test_a_real_fault_is_still_a_server_error():
    client = Client(raise_request_exception=False)
    with database_away(ProgrammingError('relation "payment" does not exist')):
        response = client.post("/find-your-penalty", {"reference": "70000001", "registration": "AB12CDE"})
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in response.content.decode()
