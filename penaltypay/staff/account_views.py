"""Staff accounts, for supervisors (the auditor reads). Changes to who someone is — a new
account, roles, an email address, re-enabling — wait for a second supervisor; disabling and
resets are one supervisor's (resets send a one-time link to the person, never to the
supervisor). Nobody changes or decides anything about their own account. ADR 0019."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from penaltypay.staff import accounts as staff
from penaltypay.staff.forms import ROLE_CHOICES, AccountDecisionForm, EmailForm, NewAccountForm, RolesForm
from penaltypay.staff.links import open_links
from penaltypay.staff.models import AccountRequest
from penaltypay.staff.pages import audit, not_found
from penaltypay.staff.roles import ACCOUNTS, ROLE_NAMES, Role, held_roles, requires


def _described(user: User) -> dict:
    roles = sorted(held_roles(user), key=lambda role: role.value)
    return {
        "username": user.username,
        "email": user.staff_profile.email,
        "roles": [ROLE_NAMES[role] for role in roles],
        "role_values": [role.value for role in roles],
        "active": user.is_active,
        "last_login": user.last_login,
        "second_factor": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
        "link_waiting": bool(open_links(user)),
    }


def _request_rows(requests: list[AccountRequest]) -> list[dict]:
    def what(change: AccountRequest) -> str:
        roles = ", ".join(ROLE_NAMES[Role(value)] for value in change.roles)
        return {
            AccountRequest.ADD: f"New account ({change.email}; {roles})",
            AccountRequest.ROLES: f"Roles: {roles}",
            AccountRequest.EMAIL: f"Email address: {change.email}",
            AccountRequest.ENABLE: "Enable again (with a new set-up link)",
        }[change.kind]

    return [{"change": change, "what": what(change)} for change in requests]


@requires(read=ACCOUNTS)
@require_GET
def accounts(request: HttpRequest) -> HttpResponse:
    people = User.objects.filter(staff_profile__isnull=False).select_related("staff_profile").order_by("username")
    return render(
        request,
        "staff/accounts.html",
        {
            "people": [_described(user) for user in people],
            "waiting": _request_rows(staff.pending_requests()),
            "me": request.user.get_username(),
            "asked": request.GET.get("asked", ""),
        },
    )


@requires(read=ACCOUNTS, act=ACCOUNTS)
@require_http_methods(["GET", "POST"])
def new_account(request: HttpRequest) -> HttpResponse:
    form = NewAccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            change = staff.request_account(
                data["username"], data["email"], data["roles"], by=request.user.get_username()
            )
        except staff.AccountError as error:
            for message in error.messages:
                form.add_error("email" if "email" in message.lower() else "username", message)
        else:
            audit(
                request,
                "request-add-account",
                object_type="staff",
                object_id=change.username,
                detail="roles " + ",".join(change.roles),
            )
            return redirect("/staff/accounts?asked=add")
    return render(request, "staff/account_new.html", {"form": form, "role_choices": ROLE_CHOICES})


@requires(read=ACCOUNTS, act=ACCOUNTS)
@require_POST
def decide_request(request: HttpRequest, pk: int) -> HttpResponse:
    form = AccountDecisionForm(request.POST)
    change = AccountRequest.objects.filter(pk=pk).first()
    if change is None:
        return not_found(request, "There is no such request.")
    problem = ""
    if form.is_valid():
        approve = form.cleaned_data["decision"] == "approve"
        try:
            staff.decide(
                pk, by=request.user.get_username(), approve=approve, note=form.cleaned_data["note"], base=_base(request)
            )
        except staff.AccountError as error:
            problem = "; ".join(error.messages)
        else:
            verb = "approve" if approve else "reject"
            audit(request, f"{verb}-account-{change.kind}", object_type="staff", object_id=change.username)
            return redirect("staff:accounts")
    else:
        problem = "Choose whether to approve or reject it"
    audit(
        request,
        f"decide-account-{change.kind}",
        object_type="staff",
        object_id=change.username,
        outcome="refused",
        detail=problem[:200],
    )
    people = User.objects.filter(staff_profile__isnull=False).select_related("staff_profile").order_by("username")
    return render(
        request,
        "staff/accounts.html",
        {
            "people": [_described(user) for user in people],
            "waiting": _request_rows(staff.pending_requests()),
            "me": request.user.get_username(),
            "problem": problem,
        },
        status=400,
    )


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


# What each action on a person's page does, and the audit action it writes.
ALONE = {
    "disable": ("disable-account", lambda user, by, base: staff.disable(user)),
    "reset-password": ("reset-password", lambda user, by, base: staff.reset_password(user, by=by, base=base)),
    "reset-2fa": ("reset-second-factor", lambda user, by, base: staff.reset_authenticator(user, by=by, base=base)),
}


@requires(read=ACCOUNTS, act=ACCOUNTS)
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest, username: str) -> HttpResponse:
    user = User.objects.filter(username=username, staff_profile__isnull=False).first()
    if user is None:
        return not_found(request, "There is no staff account with that username.")
    action = request.POST.get("action", "") if request.method == "POST" else ""
    roles_form = RolesForm(request.POST if action == "roles" else None)
    email_form = EmailForm(request.POST if action == "email" else None)
    by = request.user.get_username()
    problem = ""
    if request.method == "POST":
        if user == request.user:
            problem = "You cannot change your own account: ask another supervisor"
        elif action in ALONE:
            if action != "disable" and not user.staff_profile.email:
                problem = "This account has no email address to send a link to: change its address first"
            else:
                audit_action, do = ALONE[action]
                do(user, by, _base(request))
                audit(request, audit_action, object_type="staff", object_id=user.username)
                return redirect("staff:account", username=user.username)
        elif action in ("roles", "email", "enable"):
            form_ok = {"roles": roles_form.is_valid, "email": email_form.is_valid}.get(action, lambda: True)()
            if form_ok:
                try:
                    if action == "roles":
                        staff.request_roles(user, roles_form.cleaned_data["roles"], by=by)
                    elif action == "email":
                        staff.request_email(user, email_form.cleaned_data["email"], by=by)
                    else:
                        staff.request_enable(user, by=by)
                except staff.AccountError as error:
                    problem = "; ".join(error.messages)
                else:
                    audit(request, f"request-account-{action}", object_type="staff", object_id=user.username)
                    return redirect("/staff/accounts?asked=" + action)
        else:
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
    status = 400 if problem or roles_form.errors or email_form.errors else 200
    return render(
        request,
        "staff/account.html",
        {
            "person": _described(user),
            "form": roles_form,
            "email_form": email_form,
            "problem": problem,
            "role_choices": ROLE_CHOICES,
        },
        status=status,
    )
