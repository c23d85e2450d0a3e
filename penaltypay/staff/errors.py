"""The back office's own error pages (its header, its links; English only)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def unavailable(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/errors/unavailable.html", status=503)


def csrf_failure(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/errors/csrf.html", status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "staff/errors/500.html", status=500)
