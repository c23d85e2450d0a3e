"""Helpers for driving the journey through Django's test client (fixtures are in tests/conftest.py)."""

from __future__ import annotations

import re


def without_csrf(html: str) -> str:
    """The page minus what differs on every response (CSRF token, CSP nonce)."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'nonce="[^"]+"', "", html)


def find(client, reference, registration):
    return client.post("/find-your-penalty", {"reference": reference, "registration": registration})
