"""Your own account: your recent sign-ins (so you notice one that was not you) and changing
your password (your current password and a code from your app, as at a sign-in)."""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice

from penaltypay.audit.models import AuditEntry
from penaltypay.staff.accounts import end_sessions, password_problems
from penaltypay.staff.auth_views import count_wrong_password, password_attempt_refused, refuse_code
from penaltypay.staff.forms import ChangePasswordForm
from penaltypay.staff.middleware import EPOCH
from penaltypay.staff.pages import audit
from penaltypay.staff.roles import ANY_STAFF, requires

SHOWN = 20


@requires(read=ANY_STAFF)
@require_GET
def my_account(request: HttpRequest) -> HttpResponse:
    sign_ins = AuditEntry.objects.filter(actor=request.user.get_username(), action="sign-in").order_by("-at", "-id")
    return render(request, "staff/my_account.html", {"sign_ins": sign_ins[:SHOWN], "changed": "changed" in request.GET})


@requires(read=ANY_STAFF, act=ANY_STAFF)
@require_http_methods(["GET", "POST"])
def change_password(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]  # requires() let only a signed-in person here
    form = ChangePasswordForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if (refused := password_attempt_refused(request, user.username)) is not None:
            return refused
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if not user.check_password(form.cleaned_data["current"]):
            count_wrong_password(request, user.username)
            form.add_error("current", "Your current password is not right")
            audit(request, "change-own-password", outcome="failure", detail="current password")
        elif device is None or not device.verify_token(form.cleaned_data["code"]):
            refuse_code(request, user, form)
            audit(request, "change-own-password", outcome="failure", detail="security code")
        else:
            problems = password_problems(form.cleaned_data["password"], user)
            for problem in problems:
                form.add_error("password", problem)
            if not problems:
                user.set_password(form.cleaned_data["password"])
                user.save(update_fields=["password"])
                # Every other session ends; this one carries on.
                end_sessions(user)
                user.staff_profile.refresh_from_db()
                request.session[EPOCH] = user.staff_profile.session_epoch
                update_session_auth_hash(request, user)
                audit(request, "change-own-password")
                return redirect("/staff/me?changed=1")
    return render(request, "staff/change_password.html", {"form": form})
