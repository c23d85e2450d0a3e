"""Staff accounts, for supervisors (the auditor reads): add one, change its roles, disable
it, reset its second factor. An account added here sets up its authenticator app at its
first sign-in."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice

from penaltypay.staff.accounts import AccountError, add_staff, disable, reset_second_factor, set_roles
from penaltypay.staff.forms import ROLE_CHOICES, NewAccountForm, RolesForm
from penaltypay.staff.pages import audit, not_found
from penaltypay.staff.roles import ACCOUNTS, ROLE_NAMES, held_roles, requires


def _described(user: User) -> dict:
    roles = sorted(held_roles(user), key=lambda role: role.value)
    return {
        "username": user.username,
        "roles": [ROLE_NAMES[role] for role in roles],
        "role_values": [role.value for role in roles],
        "active": user.is_active,
        "last_login": user.last_login,
        "second_factor": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
    }


@requires(read=ACCOUNTS)
@require_GET
def accounts(request: HttpRequest) -> HttpResponse:
    people = User.objects.filter(staff_profile__isnull=False).order_by("username")
    return render(request, "staff/accounts.html", {"people": [_described(user) for user in people]})


@requires(read=ACCOUNTS, act=ACCOUNTS)
@require_http_methods(["GET", "POST"])
def new_account(request: HttpRequest) -> HttpResponse:
    form = NewAccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            add_staff(
                data["username"],
                data["roles"],
                data["password"],
                created_by=request.user.get_username(),
                confirm_second_factor=False,
            )
        except AccountError as error:
            for message in error.messages:
                form.add_error("password" if "password" in message.lower() else "username", message)
        else:
            audit(
                request,
                "add-account",
                object_type="staff",
                object_id=data["username"],
                detail="roles " + ",".join(role.value for role in data["roles"]),
            )
            return redirect("staff:account", username=data["username"])
    return render(request, "staff/account_new.html", {"form": form, "role_choices": ROLE_CHOICES})


@requires(read=ACCOUNTS, act=ACCOUNTS)
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest, username: str) -> HttpResponse:
    user = User.objects.filter(username=username, staff_profile__isnull=False).first()
    if user is None:
        return not_found(request, "There is no staff account with that username.")
    form = RolesForm(request.POST if request.POST.get("action") == "roles" else None)
    problem = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        if user == request.user and action in ("disable", "roles"):
            problem = "You cannot change or disable your own account: ask another supervisor"
        elif action == "roles" and form.is_valid():
            set_roles(user, form.cleaned_data["roles"])
            audit(
                request,
                "change-roles",
                object_type="staff",
                object_id=user.username,
                detail="roles " + ",".join(role.value for role in form.cleaned_data["roles"]),
            )
            return redirect("staff:account", username=user.username)
        elif action == "disable":
            disable(user)
            audit(request, "disable-account", object_type="staff", object_id=user.username)
            return redirect("staff:account", username=user.username)
        elif action == "reset-2fa":
            reset_second_factor(user, confirm=False)
            audit(request, "reset-second-factor", object_type="staff", object_id=user.username)
            return redirect("staff:account", username=user.username)
        elif action != "roles":
            problem = "Choose what to change"
        if problem:
            audit(
                request,
                f"account-{action or 'change'}",
                object_type="staff",
                object_id=user.username,
                outcome="refused",
                detail=problem[:100],
            )
    return render(
        request,
        "staff/account.html",
        {"person": _described(user), "form": form, "problem": problem, "role_choices": ROLE_CHOICES},
        status=400 if problem else 200,
    )
