"""Errors as `application/problem+json` (RFC 9457), each with a stable `type`."""

from __future__ import annotations

import json

from django.http import HttpResponse

TYPES = {
    "malformed-json": "The body is not valid JSON",
    "invalid-request": "The request does not match the schema",
    "body-too-large": "The body is too large",
    "unauthorised": "A valid token is needed",
    "forbidden": "The token does not have the scope this needs",
    "rate-limited": "Too many requests",
    "case-not-found": "No case matches that reference and registration",
    "lookups-limited": "Too many look-ups",
    "case-not-payable": "The case cannot be paid now",
    "service-unavailable": "A system this needs is not answering",
    "idempotency-key-reused": "The Idempotency-Key was used with another request",
    "request-in-progress": "A request with this Idempotency-Key is still being processed",
    "payment-in-progress": "Someone else is paying this penalty right now",
    "payment-paused": "Online payment for this penalty is paused after too many declined cards",
    "provider-busy": "The card payment provider's rate limit is fully booked for now",
    "payment-not-found": "No payment with that reference",
    "invalid-cursor": "The cursor is not one this API gave",
    "not-found": "No such resource",
    "method-not-allowed": "Method not allowed",
}
CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    def __init__(
        self,
        status: int,
        kind: str,
        detail: str = "",
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict] | None = None,
        extra: dict | None = None,
    ):
        super().__init__(detail or TYPES[kind])
        self.status, self.kind, self.detail = status, kind, detail or TYPES[kind]
        self.headers = headers or {}
        self.errors = errors
        self.extra = extra or {}


def type_uri(kind: str) -> str:
    return f"/api/v1/problems/{kind}"


def problem_response(problem: Problem, instance: str = "") -> HttpResponse:
    body: dict = {
        "type": type_uri(problem.kind),
        "title": TYPES[problem.kind],
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    if problem.errors is not None:
        body["errors"] = problem.errors
    body.update(problem.extra)
    response = HttpResponse(json.dumps(body), status=problem.status, content_type=CONTENT_TYPE)
    for name, value in problem.headers.items():
        response[name] = value
    return response
