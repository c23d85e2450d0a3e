"""The keeper's language: English or Welsh, chosen with the switch in the header and kept
for the session; the back office, the API and operator endpoints are English only."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import translation
from django.utils.cache import patch_vary_headers

LANGUAGES = ("en", "cy")
SESSION_KEY = "language"
# The choice is kept in a cookie too (a browser-session one, no personal data): when the
# database is away the session cannot be read, and the "try again shortly" page must still
# be in the keeper's language (docs/adr/0029).
COOKIE = "language"
SWITCHED_KEY = "language_switched"  # the page the switch just led to (see citizen.typed)
PARAMETER = "lang"
ENGLISH_ONLY = ("/staff/", "/api/", "/ops/", "/metrics", "/webhooks/", "/healthz", "/readyz")


def language_url(request: HttpRequest, code: str) -> str:
    """This page's address asking for `code` (its other query parameters kept)."""
    query = [(k, v) for k, vs in request.GET.lists() if k != PARAMETER for v in vs]
    return request.path + "?" + urlencode(query + [(PARAMETER, code)])


def keep_language(request: HttpRequest, language: str) -> None:
    """After the session is flushed (paid, or starting again), the language stays."""
    if language in LANGUAGES and language != "en":
        request.session[SESSION_KEY] = language


class LanguageMiddleware:
    """`?lang=cy` (or `en`) sets the session's language; a GET is redirected to the same
    address without it, so the address bar, history and shared links stay clean. A POST
    with it (the switch on a page with a form) goes on to the view, which shows the form
    again as typed. Otherwise: the session's choice (or, when the session cannot be read,
    the language cookie), then the browser's Accept-Language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(ENGLISH_ONLY):
            language = "en"
        else:
            asked = request.GET.get(PARAMETER)
            if asked in LANGUAGES:
                request.session[SESSION_KEY] = asked
                if request.method in ("GET", "HEAD"):
                    request.LANGUAGE_CODE = asked  # a page about saving the session says it in this language
                    request.session[SWITCHED_KEY] = request.path
                    query = urlencode([(k, v) for k, vs in request.GET.lists() if k != PARAMETER for v in vs])
                    return _remembered(HttpResponseRedirect(request.path + ("?" + query if query else "")), asked)
            language = _chosen(request) or _from_browser(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if request.GET.get(PARAMETER) in LANGUAGES:
            _remembered(response, request.GET[PARAMETER])
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Accept-Language",))
        translation.deactivate()
        return response


def _chosen(request: HttpRequest) -> str | None:
    try:
        chosen = request.session.get(SESSION_KEY)
    except (OperationalError, InterfaceError):  # the database is away: the page will say so
        return remembered_language(request) if request.COOKIES.get(COOKIE) in LANGUAGES else None
    return chosen if chosen in LANGUAGES else None


def remembered_language(request: HttpRequest) -> str:
    """The keeper's choice without the session (the database is away): the cookie, else English."""
    chosen = request.COOKIES.get(COOKIE)
    return chosen if chosen in LANGUAGES else "en"


def _remembered(response: HttpResponse, language: str) -> HttpResponse:
    response.set_cookie(COOKIE, language, secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Lax")
    return response


def _from_browser(request: HttpRequest) -> str:
    accepted = translation.get_language_from_request(request)
    return accepted if accepted in LANGUAGES else "en"
