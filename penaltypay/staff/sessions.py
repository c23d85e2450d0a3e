"""Django's session middleware, with a cookie of its own for the back office.

Keepers' pages use `sessionid` (SameSite=Lax: the provider's redirect back to us is a
cross-site navigation that must carry it). Staff pages use `staff_session`, sent only to
/staff/ and only from our own pages (SameSite=Strict), so neither session can be used on
the other's pages. Django's own logic does the work; this only chooses the cookie.

It also keeps a session alive while it is used: any request carrying it pushes its expiry
(SESSION_COOKIE_AGE) on, but writes it at most once a SESSION_TOUCH_SECONDS unless its
contents changed. Saving it on every request (SESSION_SAVE_EVERY_REQUEST) was two database
writes of every payment for nothing (bench/README.md); the idle limit now ends up to that
many seconds early, which the ADR accepts (docs/adr/0021).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

STAFF_PATH = "/staff/"
TOUCHED = "_touched"


def is_staff_path(request: HttpRequest) -> bool:
    return request.path == STAFF_PATH.rstrip("/") or request.path.startswith(STAFF_PATH)


class SessionMiddleware(DjangoSessionMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        if is_staff_path(request):
            staff = request.COOKIES.get(settings.STAFF_SESSION_COOKIE_NAME)
            request.COOKIES.pop(settings.SESSION_COOKIE_NAME, None)  # a keeper's session never opens staff pages
            if staff:
                request.COOKIES[settings.SESSION_COOKIE_NAME] = staff
        super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if getattr(request, "database_unavailable", False):
            return response  # "try again shortly" already: the session could not be read, nor saved
        try:
            _keep_alive(request)
            response = super().process_response(request, response)
        except SessionInterrupted as interrupted:
            # Django says "session deleted" (400) for any database error while saving it; a
            # database that is away is a "try again shortly" (503), not the person's doing.
            cause = _database_error(interrupted)
            if cause is None:
                raise
            raise cause from interrupted
        if is_staff_path(request) and settings.SESSION_COOKIE_NAME in response.cookies:
            morsel = response.cookies.pop(settings.SESSION_COOKIE_NAME)
            if morsel["max-age"] == 0:  # Django deleting an emptied session
                response.delete_cookie(settings.STAFF_SESSION_COOKIE_NAME, path=STAFF_PATH, samesite="Strict")
                return response
            response.set_cookie(
                settings.STAFF_SESSION_COOKIE_NAME,
                morsel.value,
                max_age=morsel["max-age"] or None,
                expires=morsel["expires"] or None,
                path=STAFF_PATH,
                secure=bool(settings.SESSION_COOKIE_SECURE),
                httponly=True,
                samesite="Strict",
            )
        return response


def _keep_alive(request: HttpRequest) -> None:
    """Mark the session for saving when its last write is older than SESSION_TOUCH_SECONDS."""
    session = getattr(request, "session", None)
    if session is None or session.is_empty():  # no session, or it was just ended
        return
    now = int(time.time())
    if not session.modified:
        touched = session.get(TOUCHED)  # reads it if the page did not
        if session.is_empty():  # the cookie named a session that has ended: nothing to keep
            return
        if isinstance(touched, int) and now - touched < settings.SESSION_TOUCH_SECONDS:
            return
    session[TOUCHED] = now


def _database_error(error: BaseException) -> OperationalError | InterfaceError | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OperationalError | InterfaceError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
