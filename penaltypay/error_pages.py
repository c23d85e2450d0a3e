"""Django's error views (handler500 and the CSRF failure view are one setting each for the
whole site): each area's own page, chosen by path. Each interface renders its own.

A database that is restarting or failing over is not a fault in the service: the request
gets a "try again in a few minutes" page (503, Retry-After), not "there is a problem"."""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse
from django.utils import translation

from penaltypay.citizen import errors as citizen_errors
from penaltypay.staff import errors as staff_errors
from penaltypay.staff.sessions import is_staff_path
from penaltypay.web.language import remembered_language
from penaltypay.web.unavailable import RETRY_AFTER_SECONDS, database_unavailable


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Usually a form left open too long: each area says so in its own words and links."""
    if is_staff_path(request):
        return staff_errors.csrf_failure(request)
    return citizen_errors.csrf_failure(request, reason)


def server_error(request: HttpRequest) -> HttpResponse:
    if database_unavailable(sys.exc_info()[1]):
        # Nothing more is asked of the database on the way out (the session is not saved: it
        # could not be read), so the page answers at once, in the keeper's language.
        request.database_unavailable = True  # type: ignore[attr-defined]
        if is_staff_path(request):
            response = staff_errors.unavailable(request)
        else:
            with translation.override(getattr(request, "LANGUAGE_CODE", None) or remembered_language(request)):
                response = citizen_errors.unavailable(request)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return staff_errors.server_error(request) if is_staff_path(request) else citizen_errors.server_error(request)
