"""Staff roles (Django groups) and the rule every staff view states: who may see it, who
may act on it. Enforced on the server by `requires`; a view without a rule is refused by
the permission-matrix test."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


class Role(str, Enum):
    AGENT = "agent"  # contact centre: search, cases, payments
    FINANCE = "finance"  # what an agent may; refunds, exceptions, reconciliation
    SUPPORT = "support"  # service operations: outbox, extract imports; references only
    SUPERVISOR = "supervisor"  # everything above, and staff accounts
    AUDITOR = "auditor"  # reads everything, the audit log included; changes nothing


ROLE_NAMES = {
    Role.AGENT: "Contact centre agent",
    Role.FINANCE: "Finance",
    Role.SUPPORT: "Service support",
    Role.SUPERVISOR: "Supervisor",
    Role.AUDITOR: "Auditor",
}

# Who may read what (GET) and who may act (POST), by area.
CASEWORK = {Role.AGENT, Role.FINANCE, Role.SUPERVISOR}  # case and payment pages: personal data
OPERATIONS = {Role.SUPPORT, Role.SUPERVISOR}
REFUNDS = {Role.FINANCE, Role.SUPERVISOR}  # ask for and decide refunds (never one's own)
EXCEPTIONS = {Role.FINANCE, Role.SUPPORT, Role.SUPERVISOR}  # the exceptions queue
FINANCE = {Role.FINANCE, Role.SUPERVISOR}  # reconciliation, reports
ACCOUNTS = {Role.SUPERVISOR}
AUDIT = {Role.AUDITOR}
ANY_STAFF = set(Role)


def held_roles(user: Any) -> set[Role]:
    """The roles an account holds (whether or not it may use them now)."""
    return {Role(name) for name in user.groups.values_list("name", flat=True) if name in Role._value2member_map_}


def roles_of(user: Any) -> set[Role]:
    """The roles a signed-in, active person may use."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    return held_roles(user)


def requires(read: Iterable[Role], act: Iterable[Role] = ()) -> Callable:
    """The view's rule: `read` roles may GET it (the auditor reads whatever anyone may),
    `act` roles may POST to it. Signed out: to the sign-in page. Signed in without the
    role: 403 with a GOV.UK "You do not have access" page."""
    readers = set(read) | {Role.AUDITOR}
    actors = set(act)

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            # is_verified: django-otp's, true once the second factor was given this session.
            if not request.user.is_authenticated or not request.user.is_verified():  # type: ignore[attr-defined]
                return redirect(f"/staff/sign-in?next={request.path}")
            allowed = readers if request.method in ("GET", "HEAD") else actors
            if not roles_of(request.user) & allowed:
                return render(request, "staff/forbidden.html", status=403)
            return view(request, *args, **kwargs)

        guarded.staff_rule = {"read": readers, "act": actors}  # type: ignore[attr-defined]
        return guarded

    return decorate


def public(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A staff URL anyone may open (the sign-in steps)."""
    view.staff_rule = "public"  # type: ignore[attr-defined]
    return view
