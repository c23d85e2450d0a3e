"""The pages a public service must have (linked from every page's footer), and the
planned-maintenance switch."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.views.decorators.http import require_GET

from penaltypay.kernel.clock import LONDON


@require_GET
def accessibility(request):
    return render(request, "citizen/info/accessibility.html")


@require_GET
def privacy(request):
    retention = {
        "receipt_email_days": settings.RETENTION_RECEIPT_EMAIL_DAYS,
        "webhook_days": settings.RETENTION_WEBHOOK_DAYS,
        "closed_case_years": settings.RETENTION_CLOSED_CASE_DAYS // 365,
        "money_years": settings.RETENTION_MONEY_YEARS,
    }
    return render(request, "citizen/info/privacy.html", {"retention": retention})


@require_GET
def cookies(request):
    return render(request, "citizen/info/cookies.html")


@require_GET
def help_and_contact(request):
    return render(request, "citizen/info/help.html")


# While the service is down for maintenance, nobody starts a payment; a keeper already on
# the provider's card page still comes back to their confirmation, and webhooks, the
# worker, the back office and these pages go on as usual.
CLOSED_IN_MAINTENANCE = {"start", "find", "penalty", "pay", "start-again"}


class MaintenanceMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.MAINTENANCE_MODE and _closed(request.path_info):
            response = render(request, "citizen/maintenance.html", {"until": _until()}, status=503)
            response["Retry-After"] = "3600"
            return response
        return self.get_response(request)


def _closed(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.namespace == "citizen" and match.url_name in CLOSED_IN_MAINTENANCE


def _until() -> datetime | None:
    if not settings.MAINTENANCE_UNTIL:
        return None
    moment = datetime.fromisoformat(settings.MAINTENANCE_UNTIL)
    return moment if moment.tzinfo else moment.replace(tzinfo=LONDON)
