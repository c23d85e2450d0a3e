"""Asking for a reminder before the reduced amount ends, and stopping one (issue 35). The
rules live in penaltypay.reminders.service; these pages map its answers. Whatever was asked,
the keeper is told the same (nobody learns whether an address already has a reminder)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods

from penaltypay.citizen.forms import ReminderForm
from penaltypay.citizen.views import basket_cases, current_case
from penaltypay.reminders import service
from penaltypay.security import client_address


@require_http_methods(["GET", "POST"])
def ask(request: HttpRequest) -> HttpResponse:
    """One penalty: the one the keeper is looking at."""
    case = current_case(request)
    if case is None or not service.offered(case):
        return redirect("citizen:penalty" if case is not None else "citizen:find")
    return _ask(request, [case], back="citizen:penalty")


@require_http_methods(["GET", "POST"])
def ask_for_basket(request: HttpRequest) -> HttpResponse:
    """Every penalty in the keeper's list whose reduced amount still applies."""
    cases = [case for case in basket_cases(request) if service.offered(case)]
    if not cases:
        return redirect("citizen:basket")
    return _ask(request, cases, back="citizen:basket")


def _ask(request: HttpRequest, cases: list, *, back: str) -> HttpResponse:
    form = ReminderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        for case in cases:
            service.ask(
                case,
                form.cleaned_data["email"],
                get_language(),
                client_address(request),
                mobile=form.cleaned_data["mobile"],
            )
        return redirect("citizen:reminder-set")
    context = {
        "form": form,
        "cases": cases,
        "config_days": settings.REMINDER_DAYS_BEFORE,
        "texts": service.texts_offered(),
        "back": back,
        "action": request.path,
    }
    return render(request, "citizen/reminder.html", context, status=400 if form.errors else 200)


def set_(request: HttpRequest) -> HttpResponse:
    return render(request, "citizen/reminder_set.html")


@require_http_methods(["GET", "POST"])
def stop(request: HttpRequest, token: str) -> HttpResponse:
    """The email's link shows a button (a link scanner opening the email must not stop it)."""
    if request.method == "POST":
        service.stop_by_keeper(token)
        return render(request, "citizen/reminder_stopped.html")
    return render(request, "citizen/reminder_stop.html", {"token": token})
