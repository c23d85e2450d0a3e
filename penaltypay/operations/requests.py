"""Every web request: an id on each of its log lines (and in its response), and its count
and time in the metrics, by view and status."""

from __future__ import annotations

import time

from django.http import HttpRequest, HttpResponse

from penaltypay.kernel import request_id
from penaltypay.kernel.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

HEADER = "X-Request-Id"


class RequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id.from_header(request.headers.get(HEADER))
        started = time.monotonic()
        with request_id.use(rid):
            response = self.get_response(request)
        view = _view_name(request)
        HTTP_REQUESTS.labels(view, request.method or "", str(response.status_code)).inc()
        HTTP_REQUEST_SECONDS.labels(view).observe(time.monotonic() - started)
        response[HEADER] = rid
        return response


def _view_name(request: HttpRequest) -> str:
    """The route, never the path (paths hold payment ids: unbounded labels)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"
