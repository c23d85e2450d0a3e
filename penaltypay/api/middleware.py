"""The API refuses an oversized body before anything reads it (413, problem+json)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from penaltypay.api.problems import Problem, problem_response


class ApiBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = settings.API_MAX_BODY_BYTES + 1
            if length > settings.API_MAX_BODY_BYTES:
                return problem_response(
                    Problem(413, "body-too-large", f"At most {settings.API_MAX_BODY_BYTES} bytes"), request.path
                )
        return self.get_response(request)
