"""Liveness and readiness, answered before anything that needs the request's host.

Kubernetes' probes and the container's health check call the pod over plain HTTP with
the pod's IP as Host: through the HTTPS redirect and the allowed-hosts check they would
get 301 or 400, and the pods would never be ready. So the two probe paths, and only they,
are answered here, first in the chain, to any Host and scheme; everything else still
meets the redirect and the host check. They carry no personal data and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from penaltypay.operations.views import liveness, readiness

PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": liveness, "/readyz": readiness}


class ProbeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            response = probe(request)
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)
