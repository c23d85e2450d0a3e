"""The keepers' feedback page (GOV.UK pattern) and its list for supervisors."""

from __future__ import annotations

import pytest
from django.test import Client

from penaltypay.reporting.models import Feedback
from penaltypay.staff.roles import Role

pytestmark = pytest.mark.django_db


def test_feedback_is_asked_for_without_personal_data_and_stored(client):
    page = client.get("/feedback?from=confirmation").content.decode()
    assert "Overall, how did you feel about the service you received today?" in page
    assert "Do not include personal or financial information" in page
    assert "email" not in page.lower().split("<main")[1]
    response = client.post("/feedback", {"rating": "4", "comments": "  Quick and clear  ", "source": "confirmation"})
    assert "Thank you for your feedback" in response.content.decode()
    assert list(Feedback.objects.values_list("rating", "comments", "source")) == [
        (4, "Quick and clear", "confirmation")
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Select how you feel about the service"),
        ({"rating": "9"}, "Select how you feel about the service"),
        ({"rating": "3", "comments": "x" * 1201}, "Your comments must be 1,200 characters or fewer"),
    ],
)
def test_bad_feedback_says_what_to_fix(client, data, message):
    page = client.post("/feedback", data).content.decode()
    assert "There is a problem" in page and message in page
    assert not Feedback.objects.exists()


def test_feedback_is_rate_limited_per_address(client):
    for _ in range(10):
        assert client.post("/feedback", {"rating": "5"}).status_code == 200
    limited = client.post("/feedback", {"rating": "5"})
    assert limited.status_code == 429 and "Try again in an hour" in limited.content.decode()
    assert Feedback.objects.count() == 10
    assert Client(REMOTE_ADDR="192.0.2.99").post("/feedback", {"rating": "5"}).status_code == 200


def test_the_phase_banner_links_to_feedback(client):
    assert 'href="/feedback?from=banner"' in client.get("/").content.decode()


def test_supervisors_read_feedback_escaped(staff_client):
    Feedback.objects.create(rating=1, comments='<script>alert("x")</script> too slow')
    page = staff_client(Role.SUPERVISOR).get("/staff/feedback").content.decode()
    assert "&lt;script&gt;" in page and '<script>alert("x")' not in page and "Very dissatisfied" in page
    assert staff_client(Role.AGENT).get("/staff/feedback").status_code == 403
