"""Signing in (username and password, then the authenticator app's code) and signing out
(here, or everywhere). An account is set up only from the one-time link emailed to the
person (penaltypay.staff.link_views), never at a sign-in. Lock-out is django-axes' (5
failures on a username in 15 minutes) and, against password spraying, a limit on failures
from one address across usernames; codes are django-otp's TOTP (RFC 6238: a code is
refused once used, or when too old)."""

from __future__ import annotations

import time

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, login, logout, user_login_failed
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from penaltypay import ratelimits
from penaltypay.audit.log import record
from penaltypay.audit.models import AuditEntry
from penaltypay.security import client_address
from penaltypay.staff.accounts import end_sessions
from penaltypay.staff.forms import CodeForm, SignInForm
from penaltypay.staff.middleware import EPOCH, LAST_SEEN, SIGNED_IN_AT
from penaltypay.staff.roles import ANY_STAFF, public, requires

PENDING = "staff_pending_user"  # password accepted; waiting for the code
PENDING_AT = "staff_pending_at"
NEXT = "staff_next"
PENDING_SECONDS = 300
WRONG = "Your username, password or security code is not right"
NOT_SET_UP = "This account is not set up. Use the link in the email we sent you, or ask a supervisor to send a new one"
ENDED = {
    "idle": "You were signed out because you had not done anything for 15 minutes.",
    "expired": "You were signed out because you had been signed in for 8 hours.",
    "signed-out-elsewhere": "You were signed out from another browser.",
}


def _next(request: HttpRequest) -> str:
    wanted = request.session.get(NEXT) or "/staff/"
    ok = url_has_allowed_host_and_scheme(wanted, allowed_hosts=None) and wanted.startswith("/staff/")
    return wanted if ok else "/staff/"


@public
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    form = SignInForm(request.POST if request.method == "POST" else None)
    ended = ENDED.get(request.GET.get("ended", ""))
    if request.method == "GET" and request.GET.get("next"):
        request.session[NEXT] = request.GET["next"]
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip()
        if ratelimits.sign_in_failures(client_address(request)) >= settings.STAFF_SIGN_IN_FAILURES_PER_ADDRESS:
            return _address_locked_out(request, username)
        user = authenticate(request, username=username, password=form.cleaned_data["password"])
        if getattr(request, "axes_locked_out", False):
            return locked_out(request, HttpResponse(), {"username": username})
        if user is None or not user.is_active or not hasattr(user, "staff_profile"):
            _failed(request, username, "username or password")
            form.add_error(None, WRONG)
        elif not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            _failed(request, username, "not set up")
            form.add_error(None, NOT_SET_UP)
        else:
            pending(request, user)
            return redirect("staff:sign-in-code")
    return render(request, "staff/sign_in.html", {"form": form, "ended": ended})


def pending(request: HttpRequest, user: User) -> None:
    """Password (or a link's password step) accepted: the session waits for the code."""
    wanted = request.session.get(NEXT)
    request.session.cycle_key()
    request.session[PENDING] = user.pk
    request.session[PENDING_AT] = time.time()
    if wanted:
        request.session[NEXT] = wanted


def _failed(request: HttpRequest, username: str, why: str) -> None:
    ratelimits.note_sign_in_failure(client_address(request))
    record(username or "-", "sign-in", address=client_address(request), outcome=AuditEntry.FAILURE, detail=why)


def _address_locked_out(request: HttpRequest, username: str) -> HttpResponse:
    record(
        username[:150] or "-",
        "sign-in",
        address=client_address(request),
        outcome=AuditEntry.REFUSED,
        detail="too many failed sign-ins from this address",
    )
    return render(request, "staff/locked_out.html", status=429)


def _pending_user(request: HttpRequest) -> User | None:
    user_id, at = request.session.get(PENDING), request.session.get(PENDING_AT, 0)
    if user_id is None or time.time() - at > PENDING_SECONDS:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


def password_attempt_refused(request: HttpRequest, username: str) -> HttpResponse | None:
    """The sign-in's limits for every other place a password is typed (a link's password
    step, "change your password"): the lock-out page when this address or this account is
    locked out, None when the password may be tried."""
    if ratelimits.sign_in_failures(client_address(request)) >= settings.STAFF_SIGN_IN_FAILURES_PER_ADDRESS:
        return _address_locked_out(request, username)
    if AxesProxyHandler.is_locked(request, credentials={"username": username}):
        return locked_out(request, HttpResponse(), {"username": username})
    return None


def count_wrong_password(request: HttpRequest, username: str) -> None:
    """A wrong password anywhere counts towards the account's and the address's lock-outs,
    as a wrong one at sign-in does."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)
    ratelimits.note_sign_in_failure(client_address(request))


def refuse_code(request: HttpRequest, user: User, form: forms.Form) -> None:
    # A wrong code counts towards the lock-outs like a wrong password does.
    user_login_failed.send(sender=__name__, credentials={"username": user.username}, request=request)
    _failed(request, user.username, "security code")
    form.add_error("code", WRONG)


def complete_sign_in(request: HttpRequest, user: User, device: TOTPDevice) -> HttpResponse:
    wanted = _next(request)
    # Cycles the session key, and tells django-axes (user_logged_in) to clear the failures.
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    otp_login(request, device)
    now = time.time()
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_SEEN] = now
    request.session[EPOCH] = user.staff_profile.session_epoch
    record(user.username, "sign-in", address=client_address(request))
    return redirect(wanted)


@public
@require_http_methods(["GET", "POST"])
def code(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        return redirect("staff:sign-in")
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return redirect("staff:sign-in")
    if AxesProxyHandler.is_locked(request, {"username": user.username}):
        return locked_out(request, HttpResponse(), {"username": user.username})
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            return complete_sign_in(request, user, device)
        refuse_code(request, user, form)
        if getattr(request, "axes_locked_out", False):
            return locked_out(request, HttpResponse(), {"username": user.username})
    return render(request, "staff/code.html", {"form": form})


@requires(read=ANY_STAFF, act=ANY_STAFF)
@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    record(request.user.username, "sign-out", address=client_address(request))
    logout(request)
    return redirect("staff:sign-in")


@requires(read=ANY_STAFF, act=ANY_STAFF)
@require_POST
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    record(request.user.username, "sign-out-everywhere", address=client_address(request))
    end_sessions(request.user)  # type: ignore[arg-type]  # requires() let only a signed-in person here
    logout(request)
    return redirect("staff:sign-in")


def locked_out(
    request: HttpRequest, response: HttpResponse, credentials: dict | None = None, *args: object, **kwargs: object
) -> HttpResponse:
    """django-axes' lock-out answer: the same page whether the username exists or not.
    (Called by our views and by axes' middleware: one audit row a request.)"""
    if not getattr(request, "staff_lockout_recorded", False):
        request.staff_lockout_recorded = True  # type: ignore[attr-defined]
        username = (credentials or {}).get("username") or request.POST.get("username", "")
        record(
            str(username)[:150] or "-",
            "sign-in",
            address=client_address(request),
            outcome=AuditEntry.REFUSED,
            detail="locked out",
        )
    return render(request, "staff/locked_out.html", status=429)
