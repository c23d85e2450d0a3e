"""Casework pages: the back office's home, search, a case, a payment and its timeline.
Each view states who may open it (penaltypay.staff.roles); each view of personal data is
audited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from penaltypay.cases.domain import normalise_reference
from penaltypay.cases.store import case_record
from penaltypay.ecs import deliveries
from penaltypay.payments import card_testing, records
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.links import links_for_case

if TYPE_CHECKING:
    from penaltypay.payments.models import Payment
from penaltypay.payments.queries import payments_of_case
from penaltypay.payments.refund_rules import REASONS
from penaltypay.payments.refunds import remaining_refundable
from penaltypay.reminders import service as reminders
from penaltypay.staff.forms import SearchForm
from penaltypay.staff.pages import PAGE_SIZE, audit, not_found, page_number
from penaltypay.staff.roles import ANY_STAFF, CASEWORK, REFUNDS, ROLE_NAMES, requires, roles_of
from penaltypay.staff.search import Query, search
from penaltypay.staff.timeline import timeline

STATUSES = [status.value for status in PaymentStatus]


@requires(read=ANY_STAFF)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    roles = sorted(roles_of(request.user), key=lambda role: role.value)
    return render(
        request,
        "staff/home.html",
        {"roles": [ROLE_NAMES[role] for role in roles], "role_values": {role.value for role in roles}},
    )


@requires(read=CASEWORK)
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    searched = bool(request.GET)
    form = SearchForm(request.GET if searched else None, statuses=STATUSES)
    context: dict = {"form": form, "statuses": STATUSES}
    if searched and form.is_valid():
        data = form.cleaned_data
        query = Query(
            text=data["q"] or "", date_from=data["date_from"], date_to=data["date_to"], status=data["status"] or ""
        )
        found = search(query)
        paginator = Paginator(found.payments, PAGE_SIZE)
        page = paginator.get_page(page_number(request))
        params = request.GET.copy()
        params.pop("page", None)
        context.update(cases=found.cases, page=page, query_string=params.urlencode())
        audit(request, "search", detail=f"payments {paginator.count}, cases {len(found.cases)}")
    elif searched:
        audit(request, "search", outcome="refused", detail="query not valid")
    return render(request, "staff/search.html", context, status=200)


@requires(read=CASEWORK)
@require_GET
def case_page(request: HttpRequest, reference: str) -> HttpResponse:
    reference = normalise_reference(reference)
    case = case_record(reference)
    payments = list(payments_of_case(reference))
    if case is None and not payments:
        audit(request, "view-case", object_type="case", object_id=reference, outcome="failure", detail="not held")
        return not_found(request, f"We hold no case {reference} and no payments for it.")
    refunds = deliveries.refunds_for_case(reference)
    audit(request, "view-case", object_type="case", object_id=reference)
    return render(
        request,
        "staff/case.html",
        {
            "reference": reference,
            "case": case,
            "payments": payments,
            "refunds": refunds,
            "links": links_for_case(reference),
            "pause": card_testing.paused(reference),
            "reminder_set": reminders.live_for_case(reference),
            "may_act": bool(roles_of(request.user) & CASEWORK),
        },
    )


@requires(read=CASEWORK, act=CASEWORK)
@require_POST
def lift_pause(request: HttpRequest, reference: str) -> HttpResponse:
    """A person lifts a card-testing pause (after talking to the keeper, say)."""
    reference = normalise_reference(reference)
    was = card_testing.lift(reference)
    audit(request, "lift-card-testing-pause", object_type="case", object_id=reference, detail="" if was else "none on")
    return redirect("staff:case", reference=reference)


@requires(read=CASEWORK, act=CASEWORK)
@require_POST
def stop_reminder(request: HttpRequest, reference: str) -> HttpResponse:
    """The keeper asked (by phone, say) for no reminder: stopped; who did it is audited."""
    reference = normalise_reference(reference)
    stopped = reminders.stop_for_case(reference, by=request.user.get_username())
    audit(request, "stop-reminder", object_type="case", object_id=reference, detail="" if stopped else "none set")
    return redirect("staff:case", reference=reference)


def payment_context(request: HttpRequest, payment: Payment) -> dict:
    """What the payment page shows, for this person (whether they may ask for or decide a refund)."""
    refunds = list(records.refunds_of(payment))
    may_refund = bool(roles_of(request.user) & REFUNDS)
    remaining = remaining_refundable(payment)
    return {
        "payment": payment,
        "case": case_record(payment.first_case_reference),
        "entries": timeline(payment),
        "refunds": refunds,
        "disputes": list(records.disputes_of(payment)),
        "lines": list(payment.lines.all()),
        "remaining": remaining,
        "can_request_refund": may_refund and payment.status == PaymentStatus.SUCCESS.value and remaining > 0,
        "may_decide": may_refund,
        "me": request.user.get_username(),
        "reasons": REASONS,
    }


@requires(read=CASEWORK)
@require_GET
def payment_page(request: HttpRequest, reference: str) -> HttpResponse:
    payment = records.payment(reference)
    if payment is None:
        audit(
            request,
            "view-payment",
            object_type="payment",
            object_id=reference[:80],
            outcome="failure",
            detail="no such payment",
        )
        return not_found(request, "There is no payment with that reference.")
    audit(request, "view-payment", object_type="payment", object_id=payment.reference)
    return render(request, "staff/payment.html", payment_context(request, payment))
