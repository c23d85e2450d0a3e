"""The person's own steps, from the one-time link in their email: choose a password, set up
the authenticator app (a new secret each time the page is shown, only to this session),
choose a new password after a reset. Nobody else ever sees a password or a secret."""

from __future__ import annotations

import segno
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice
from markupsafe import Markup

from penaltypay.audit.log import record
from penaltypay.security import client_address
from penaltypay.staff import links
from penaltypay.staff.accounts import base32_secret, fresh_device, password_problems
from penaltypay.staff.auth_views import (
    complete_sign_in,
    count_wrong_password,
    password_attempt_refused,
    pending,
    refuse_code,
)
from penaltypay.staff.forms import CodeForm, CurrentPasswordForm, NewPasswordForm
from penaltypay.staff.models import StaffLink
from penaltypay.staff.roles import public

LINK = "staff_link"  # the link this session opened
READY = "staff_link_ready"  # its password step is done in this session: the app may be set up
SET_UP_DEVICE = "staff_set_up_device"  # the secret shown to this session, the only one it may confirm


def _audit(request: HttpRequest, user: User, action: str, outcome: str = "success", detail: str = "") -> None:
    record(
        user.username,
        action,
        object_type="staff",
        object_id=user.username,
        address=client_address(request),
        outcome=outcome,
        detail=detail,
    )


@public
@require_http_methods(["GET", "POST"])
def link(request: HttpRequest, token: str) -> HttpResponse:
    found = links.find(token)
    if found is None:
        return render(request, "staff/link_expired.html", status=410)
    user = found.user
    if request.session.get(LINK) != found.pk:
        request.session.cycle_key()  # a new session for whoever holds this link
        request.session[LINK] = found.pk
    choosing = found.purpose == StaffLink.PASSWORD or (
        found.purpose == StaffLink.SET_UP and found.password_set_at is None
    )
    form: NewPasswordForm | CurrentPasswordForm
    form = (NewPasswordForm if choosing else CurrentPasswordForm)(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if choosing:
            problems = password_problems(form.cleaned_data["password"], user)
            for problem in problems:
                form.add_error("password", problem)
            if not problems:
                return _password_chosen(request, found, user, form.cleaned_data["password"])
        elif (refused := password_attempt_refused(request, user.username)) is not None:
            return refused
        elif user.check_password(form.cleaned_data["password"]):
            request.session[READY] = found.pk
            return redirect("staff:set-up-authenticator")
        else:
            count_wrong_password(request, user.username)
            _audit(request, user, "link-password", outcome="failure", detail=found.purpose)
            form.add_error("password", "Your password is not right")
    return render(
        request,
        "staff/link.html",
        {"form": form, "choosing": choosing, "purpose": found.purpose, "username": user.username},
    )


def _password_chosen(request: HttpRequest, found: StaffLink, user: User, password: str) -> HttpResponse:
    user.set_password(password)
    user.save(update_fields=["password"])
    _audit(request, user, "choose-own-password", detail=found.purpose)
    if found.purpose == StaffLink.PASSWORD:
        links.finish(found)
        pending(request, user)  # then the code from their own app, as at any sign-in
        return redirect("staff:sign-in-code")
    StaffLink.objects.filter(pk=found.pk).update(password_set_at=timezone.now())
    request.session[READY] = found.pk
    return redirect("staff:set-up-authenticator")


def _linked_user(request: HttpRequest) -> tuple[StaffLink, User] | None:
    pk = request.session.get(READY)
    found = StaffLink.objects.select_related("user").filter(pk=pk).first() if pk else None
    if found is None or found.used_at or found.voided_at or found.expires_at <= timezone.now():
        return None
    if found.purpose not in (StaffLink.SET_UP, StaffLink.AUTHENTICATOR) or not found.user.is_active:
        return None
    return found, found.user


@public
@require_http_methods(["GET", "POST"])
def set_up_authenticator(request: HttpRequest) -> HttpResponse:
    """Only from a link whose password step this session has done. The secret is new each
    time the page is shown, and only the one shown to this session can be confirmed."""
    linked = _linked_user(request)
    if linked is None:
        return render(request, "staff/link_expired.html", status=410)
    found, user = linked
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        device = TOTPDevice.objects.filter(pk=request.session.get(SET_UP_DEVICE), user=user, confirmed=False).first()
        if device is not None and device.verify_token(form.cleaned_data["code"]):
            if not links.finish(found):
                return render(request, "staff/link_expired.html", status=410)
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            _audit(request, user, "set-up-authenticator", detail=found.purpose)
            return complete_sign_in(request, user, device)
        refuse_code(request, user, form)
    device = fresh_device(user, replacing=request.session.get(SET_UP_DEVICE))
    request.session[SET_UP_DEVICE] = device.pk
    qr = segno.make(device.config_url, error="m").svg_inline(scale=5, title="QR code to set up your authenticator app")
    # segno's SVG of our own otpauth URL (the username is letters, digits and ._- only).
    svg = Markup(qr)  # noqa: S704
    return render(request, "staff/set_up.html", {"form": form, "qr": svg, "secret": base32_secret(device)})
