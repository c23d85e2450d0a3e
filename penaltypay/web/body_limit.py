"""A request body over its limit is refused (413) from its Content-Length alone, before
anything reads it: a 40 MiB POST to a form page used to be read whole (to /tmp, a small
memory volume in the pods) before an answer. The keeper's and staff forms are small
(WEB_MAX_BODY_BYTES); the bank statement upload has its own, larger cap
(STATEMENT_UPLOAD_MAX_BYTES); the API has its own, answering in problem+json
(penaltypay.api.middleware). A body without a Content-Length (chunked) is not read by
Django at all."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

STATEMENT_UPLOAD_PATH = "/staff/reconciliation"


def limit_for(path: str) -> int:
    if path == STATEMENT_UPLOAD_PATH:
        return settings.STATEMENT_UPLOAD_MAX_BYTES
    return settings.WEB_MAX_BODY_BYTES


class BodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            return self.get_response(request)  # the API's own limit and answer
        limit = limit_for(request.path)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = limit + 1
        if length > limit:
            return HttpResponse(
                f"The request is too large: at most {limit} bytes.\n",
                status=413,
                content_type="text/plain; charset=utf-8",
                headers={"Connection": "close"},
            )
        return self.get_response(request)
