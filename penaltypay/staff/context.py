"""What every back-office page shows in its header: the areas this person may open."""

from __future__ import annotations

from django.db import DatabaseError
from django.http import HttpRequest
from django.urls import reverse

from penaltypay.staff.roles import ACCOUNTS, AUDIT, CASEWORK, EXCEPTIONS, FINANCE, OPERATIONS, roles_of
from penaltypay.staff.sessions import is_staff_path

AREAS = [
    ("Search", "staff:search", CASEWORK),
    ("Phone payment", "staff:phone-payment", CASEWORK),
    ("Exceptions", "staff:exceptions", EXCEPTIONS),
    ("Reconciliation", "staff:reconciliation", FINANCE),
    ("Reports", "staff:reports", FINANCE),
    ("Outbox", "staff:outbox", OPERATIONS),
    ("Extract imports", "staff:extract-imports", OPERATIONS),
    ("Staff accounts", "staff:accounts", ACCOUNTS),
    ("Feedback", "staff:feedback", ACCOUNTS),
    ("Audit log", "staff:audit", AUDIT),
]


def navigation(request: HttpRequest) -> dict:
    if not is_staff_path(request):
        return {}
    user = getattr(request, "user", None)
    try:
        held = roles_of(user) if user is not None and user.is_verified() else set()
    except DatabaseError:  # an error page while the database is away still renders
        return {}
    items = []
    for text, name, roles in AREAS:
        if held & (roles | AUDIT):  # the auditor reads every area
            href = reverse(name)
            items.append({"text": text, "href": href, "active": request.path.startswith(href)})
    return {"staff_navigation": items, "staff_user": user.get_username() if held and user is not None else ""}
