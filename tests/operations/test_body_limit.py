"""A body over its limit is answered 413 from its Content-Length, before anything reads it:
the keeper's look-up and staff sign-in forms, the API (problem+json), while the bank
statement upload keeps its own, larger cap."""

from __future__ import annotations

import io

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

FORTY_MIB = 40 * 1024 * 1024


class Untouchable(io.RawIOBase):
    """A request body nobody may read: the answer must come from the headers alone."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = readinto = read


def post_claiming(path: str, length: int, content_type: str = "application/x-www-form-urlencoded"):
    return Client().post(
        path, data=b"", content_type=content_type, CONTENT_LENGTH=str(length), **{"wsgi.input": Untouchable()}
    )


@pytest.mark.parametrize("path", ["/find-your-penalty", "/staff/sign-in", "/pay", "/staff/reconciliation"])
def test_forty_mebibytes_to_a_form_are_refused_unread(path):
    answer = post_claiming(path, FORTY_MIB, "multipart/form-data; boundary=x")
    assert answer.status_code == 413
    assert "too large" in answer.content.decode()


def test_the_api_answers_413_as_a_problem_unread():
    answer = post_claiming("/api/v1/payments", FORTY_MIB, "application/json")
    assert answer.status_code == 413 and answer["Content-Type"] == "application/problem+json"


def test_the_statement_upload_keeps_its_larger_cap(settings):
    length = 2 * 1024 * 1024  # a bank statement of 2 MiB: over the forms' limit, within the upload's
    assert length > settings.WEB_MAX_BODY_BYTES
    assert post_claiming("/find-your-penalty", length).status_code == 413
    answer = Client().post("/staff/reconciliation", data=b"x" * length, content_type="text/csv")
    assert answer.status_code != 413  # past the limit: the back office's own rules answer (sign in first)


def test_a_content_length_that_is_not_a_number_is_refused():
    assert post_claiming("/find-your-penalty", 0).status_code != 413
    answer = Client().post(
        "/find-your-penalty",
        data=b"",
        content_type="text/plain",
        CONTENT_LENGTH="lots",
        **{"wsgi.input": Untouchable()},
    )
    assert answer.status_code in (400, 413)
