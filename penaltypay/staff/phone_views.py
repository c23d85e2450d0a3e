"""Phone payments (agent, finance, supervisor): find the case as the keeper reads it from
the letter, see what is due now, and open the provider's card page (a MOTO payment) to type
the card the keeper reads out. Card data never reaches us. The payment carries channel
PHONE and the agent's username."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from penaltypay.adapters.factories import ecs_for_lookups, payment_provider
from penaltypay.cases.domain import CASE_TYPE_NAMES, amount_due_at, why_not_payable
from penaltypay.cases.lookup import LookupOutcome, find_case
from penaltypay.kernel.security_events import CARD_PAGE_REFUSED, security_event
from penaltypay.payments.creation import PaymentUnavailable, start_payment
from penaltypay.payments.models import Payment
from penaltypay.payments.ports import ProviderError
from penaltypay.payments.queries import pending_paid_pence
from penaltypay.payments.settlement import refresh_payment
from penaltypay.security import card_page_allowed
from penaltypay.staff.forms import PhoneFindForm, PhoneTakeForm
from penaltypay.staff.pages import audit
from penaltypay.staff.roles import CASEWORK, public, requires

log = logging.getLogger("penaltypay.staff")
NOT_FOUND = "No penalty matches that reference and registration: check them with the keeper"
UNAVAILABLE = "We cannot look up penalties at the moment. Try again in a few minutes"


def _look_up(form: PhoneFindForm) -> tuple[dict | None, str]:
    """The case and what is due now, or why there is nothing to take."""
    lookup = find_case(form.cleaned_data["reference"], form.cleaned_data["registration"], ecs_for_lookups())
    if lookup.outcome in (LookupOutcome.UNAVAILABLE, LookupOutcome.BUSY) or lookup.case is None:
        return None, NOT_FOUND if lookup.outcome is LookupOutcome.NOT_FOUND else UNAVAILABLE
    case, now = lookup.case, timezone.now()
    pending = pending_paid_pence(case.reference)
    due = amount_due_at(case, now, pending)
    reason = why_not_payable(case, now, pending)
    return {
        "case": case,
        "due": due,
        "reason": reason.value if reason else "",
        "case_type_name": CASE_TYPE_NAMES.get(case.case_type, case.case_type),
    }, ""


@requires(read=CASEWORK, act=CASEWORK)
@require_http_methods(["GET", "POST"])
def phone_payment(request: HttpRequest) -> HttpResponse:
    form = PhoneFindForm(request.POST if request.method == "POST" else None)
    context: dict = {"form": form}
    if request.method == "POST" and form.is_valid():
        found, problem = _look_up(form)
        audit(
            request,
            "phone-payment-look-up",
            object_type="case",
            object_id=form.cleaned_data["reference"],
            outcome="success" if found else "failure",
            detail=problem[:100],
        )
        if found is None:
            form.add_error("reference", problem)
        else:
            context.update(found, take=PhoneTakeForm(initial=form.cleaned_data))
            return render(request, "staff/phone_due.html", context)
    return render(request, "staff/phone_find.html", context)


def _return_url(request: HttpRequest, payment: Payment) -> str:
    path = reverse("staff:phone-payment-return", args=[payment.id])
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}{path}" if base else request.build_absolute_uri(path)


@requires(read=CASEWORK, act=CASEWORK)
@require_POST
def take_phone_payment(request: HttpRequest) -> HttpResponse:
    """Looks the case up again (the amount is never taken from the form) and opens the card page."""
    form = PhoneTakeForm(request.POST)
    if not form.is_valid():
        return render(request, "staff/phone_find.html", {"form": form}, status=400)
    found, problem = _look_up(form)
    if found is None or found["reason"]:
        form.add_error("reference", problem or "This penalty cannot be paid now: look it up again")
        return render(request, "staff/phone_find.html", {"form": form}, status=400)
    agent = request.user.get_username()
    try:
        started = start_payment(
            found["case"],
            amount_pence=found["due"].total_pence,
            email=form.cleaned_data["email"],
            language="en",
            return_url_for=lambda payment: _return_url(request, payment),
            client=payment_provider(),
            channel=Payment.CHANNEL_PHONE,
            created_by=agent,
        )
    except (PaymentUnavailable, ProviderError):
        form.add_error(None, "The card payment service is not answering. Try again in a few minutes")
        return render(request, "staff/phone_find.html", {"form": form}, status=503)
    audit(
        request,
        "take-phone-payment",
        object_type="payment",
        object_id=started.payment.reference,
        detail=f"case {found['case'].reference}, {found['due'].total_pence} pence",
    )
    if started.next_url is None:
        return HttpResponseRedirect(reverse("staff:payment", args=[started.payment.reference]), status=303)
    if not card_page_allowed(started.next_url):
        security_event(CARD_PAGE_REFUSED, payment_reference=started.payment.reference)
        form.add_error(None, "The card payment service gave an address we do not trust: nothing was taken")
        return render(request, "staff/phone_find.html", {"form": form}, status=503)
    return HttpResponseRedirect(started.next_url, status=303)


@public
@require_GET
def phone_payment_return(request: HttpRequest, payment_id: str) -> HttpResponse:
    """The provider sends the agent's browser here. This request is cross-site, so it carries
    no staff session (SameSite=Strict): settle the payment, then hand over to the signed-in
    payment page with a link from our own site. Nothing personal is shown here."""
    payment = Payment.objects.filter(id=payment_id, channel=Payment.CHANNEL_PHONE).first()
    if payment is None:
        return render(request, "staff/not_found.html", {"message": "There is no such phone payment."}, status=404)
    if payment.is_live:
        try:
            payment = refresh_payment(payment, payment_provider(), source="return")
        except ProviderError:
            log.warning(
                "provider unreachable on a phone payment's return", extra={"payment_reference": payment.reference}
            )
    target = reverse("staff:payment", args=[payment.reference])
    return render(request, "staff/phone_returned.html", {"target": target, "reference": payment.reference})
