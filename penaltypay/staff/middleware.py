"""The back office's door: which networks may reach it, and how long a signed-in session
lasts (15 idle minutes, 8 hours at most, not past a "sign out everywhere")."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from penaltypay.security import client_address
from penaltypay.staff.sessions import is_staff_path

SIGNED_IN_AT = "staff_signed_in_at"
LAST_SEEN = "staff_last_seen"
EPOCH = "staff_epoch"


def client_ip(request: HttpRequest) -> str:
    """The caller's address (for django-axes, as for every other limit)."""
    return client_address(request)


def _network_allowed(request: HttpRequest) -> bool:
    networks = settings.STAFF_ALLOWED_NETWORKS
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(client_address(request).split("/")[0])
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


def session_ended(request: HttpRequest, now: float) -> str | None:
    """Why a signed-in staff session may not go on, or None."""
    session = request.session
    if now - session.get(LAST_SEEN, now) > settings.STAFF_IDLE_SECONDS:
        return "idle"
    if now - session.get(SIGNED_IN_AT, now) > settings.STAFF_ABSOLUTE_SECONDS:
        return "expired"
    profile = getattr(request.user, "staff_profile", None)
    if profile is not None and session.get(EPOCH) != profile.session_epoch:
        return "signed-out-elsewhere"
    return None


class StaffAccessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_staff_path(request):
            return self.get_response(request)
        if not _network_allowed(request):
            return render(request, "staff/forbidden.html", status=403)
        if request.user.is_authenticated:
            now = time.time()
            ended = session_ended(request, now)
            if ended:
                logout(request)
                return redirect(f"/staff/sign-in?ended={ended}")
            request.session[LAST_SEEN] = now
        return self.get_response(request)
