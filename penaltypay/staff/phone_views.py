"""Phone payments (agent, finance, supervisor): find the case as the keeper reads it from
the letter, see what is due now, and open the provider's card page (a MOTO payment) to type
the card the keeper reads out. Card data never reaches us. The payment carries channel
PHONE and the agent's username."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from penaltypay.cases.domain import CASE_TYPE_NAMES
from penaltypay.cases.lookup import LookupOutcome, find_case
from penaltypay.cases.ports import ecs_for_lookups
from penaltypay.kernel.clock import LONDON
from penaltypay.payments import checkout, links, records
from penaltypay.payments.creation import PaymentBusy, PaymentUnavailable, retry_after_seconds
from penaltypay.payments.ports import payment_provider

if TYPE_CHECKING:
    from penaltypay.payments.models import Payment
from penaltypay.payments.ports import ProviderBusy, ProviderError
from penaltypay.payments.settlement import refresh_payment
from penaltypay.staff.forms import PaymentLinkForm, PhoneFindForm, PhoneTakeForm
from penaltypay.staff.pages import audit
from penaltypay.staff.roles import CASEWORK, public, requires

log = logging.getLogger("penaltypay.staff")
NOT_FOUND = "No penalty matches that reference and registration: check them with the keeper"
UNAVAILABLE = "We cannot look up penalties at the moment. Try again in a few minutes"


def _look_up(request: HttpRequest, form: PhoneFindForm) -> tuple[dict | None, str]:
    """The case and what is due now (the checkout's quote), or why there is nothing to take."""
    lookup = find_case(form.cleaned_data["reference"], form.cleaned_data["registration"], ecs_for_lookups())
    if lookup.outcome in (LookupOutcome.UNAVAILABLE, LookupOutcome.BUSY) or lookup.case is None:
        return None, NOT_FOUND if lookup.outcome is LookupOutcome.NOT_FOUND else UNAVAILABLE
    quote = checkout.quote(lookup.case)
    mine = checkout.Payer.agent(request.user.get_username())
    other = quote.live if quote.live and (quote.live.owner, quote.live.channel) != (mine.owner, mine.channel) else None
    return {
        "case": quote.case,
        "due": quote.due,
        "reason": quote.reason.value if quote.reason else "",
        "case_type_name": CASE_TYPE_NAMES.get(quote.case.case_type, quote.case.case_type),
        "someone_else_paying": other,
        "blocked_until": checkout.blocked_until(other) if other else None,
    }, ""


@requires(read=CASEWORK, act=CASEWORK)
@require_http_methods(["GET", "POST"])
def phone_payment(request: HttpRequest) -> HttpResponse:
    form = PhoneFindForm(request.POST if request.method == "POST" else None)
    context: dict = {"form": form}
    if request.method == "POST" and form.is_valid():
        found, problem = _look_up(request, form)
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
            context.update(found, take=PhoneTakeForm(initial=form.cleaned_data), sms=_sms())
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
    found, problem = _look_up(request, form)
    if found is None or found["reason"]:
        form.add_error("reference", problem or "This penalty cannot be paid now: look it up again")
        return render(request, "staff/phone_find.html", {"form": form}, status=400)
    try:
        outcome = checkout.check_out(
            found["case"],
            checkout.Payer.agent(request.user.get_username()),
            email=form.cleaned_data["email"],
            language="en",
            return_url_for=lambda payment: _return_url(request, payment),
            client=payment_provider(),
        )
    except (PaymentBusy, ProviderBusy) as error:
        seconds = retry_after_seconds(error)
        form.add_error(None, f"The card payment service is busy. Nothing was taken: try again in {seconds} seconds")
        return _not_started(request, form, found, f"provider busy: try again in {seconds} s")
    except (PaymentUnavailable, ProviderError):
        form.add_error(None, "The card payment service is not answering. Try again in a few minutes")
        return _not_started(request, form, found, "provider not answering")
    return _after_checkout(request, form, found, outcome)


def _not_started(request: HttpRequest, form: PhoneTakeForm, found: dict, why: str) -> HttpResponse:
    """The provider could not start the payment: nothing was taken; the attempt is audited."""
    reference = found["case"].reference
    audit(request, "take-phone-payment", object_type="case", object_id=reference, outcome="refused", detail=why)
    return render(request, "staff/phone_find.html", {"form": form}, status=503)


def _after_checkout(request: HttpRequest, form: PhoneTakeForm, found: dict, outcome: checkout.Outcome) -> HttpResponse:
    """The checkout's answer as the agent's next page, and an audit entry saying what happened."""
    if not isinstance(outcome, checkout.Started):
        message, detail, status, about = _refusal(outcome, found["case"].reference)
        form.add_error("reference" if isinstance(outcome, checkout.NotPayable) else None, message)
        object_type = "payment" if isinstance(outcome, checkout.CardPageRefused) else "case"
        audit(request, "take-phone-payment", object_type=object_type, object_id=about, outcome="refused", detail=detail)
        return render(request, "staff/phone_find.html", {"form": form}, status=status)
    payment = outcome.payment
    audit(
        request,
        "take-phone-payment",
        object_type="payment",
        object_id=payment.reference,
        detail=f"case {payment.first_case_reference}, {payment.amount_pence} pence"
        + (", resumed" if outcome.resumed else ""),
    )
    if outcome.next_url is None:
        return HttpResponseRedirect(reverse("staff:payment", args=[payment.reference]), status=303)
    return HttpResponseRedirect(outcome.next_url, status=303)


def _refusal(outcome: checkout.Outcome, case_reference: str) -> tuple[str, str, int, str]:
    """(what the agent is told, what the audit log says, status, what it is about)."""
    if isinstance(outcome, checkout.NotPayable):
        reason = outcome.quote.reason.value if outcome.quote.reason else ""
        return "This penalty cannot be paid now: look it up again", f"not payable: {reason}", 400, case_reference
    if isinstance(outcome, checkout.PaidElsewhere):
        how = "online by the keeper" if outcome.channel == checkout.ONLINE else "by phone by another agent"
        told = (
            f"This penalty is being paid {how} right now: nothing was taken. "
            f"Look it up again after {outcome.until.astimezone(LONDON):%H:%M}, or when that payment has finished"
        )
        return told, f"being paid ({outcome.channel}) as {outcome.payment.reference}", 409, case_reference
    if isinstance(outcome, checkout.Paused):
        until = f"{outcome.pause.until.astimezone(LONDON):%H:%M}"
        if outcome.pause.scope == "agent":
            told = (
                f"Too many cards were declined on your phone payments: you can take card payments again after {until}"
            )
        else:
            told = f"Too many cards were declined for this penalty: it can be paid again after {until}"
        return told, f"paused ({outcome.pause.scope})", 429, case_reference
    assert isinstance(outcome, checkout.CardPageRefused)
    told = "The card payment service gave an address we do not trust: nothing was taken"
    return told, "card page refused", 503, outcome.payment.reference


@requires(read=CASEWORK, act=CASEWORK)
@require_POST
def send_payment_link(request: HttpRequest) -> HttpResponse:
    """Instead of hearing the card: a link to our own site, by email (or text message where
    Notify has a template for it). The case is looked up again; nothing is taken from the form
    but where to send the link."""
    form = PaymentLinkForm(request.POST)
    if not form.is_valid():
        found = None
        if {"reference", "registration"} <= set(form.cleaned_data):
            found, _problem = _look_up(request, form)
        if found:
            context = {"link_form": form, **found, "take": PhoneTakeForm(initial=form.cleaned_data), "sms": _sms()}
            return render(request, "staff/phone_due.html", context, status=400)
        return render(request, "staff/phone_find.html", {"form": form}, status=400)
    found, problem = _look_up(request, form)
    if found is None or found["reason"]:
        form.add_error("reference", problem or "This penalty cannot be paid now: look it up again")
        return render(request, "staff/phone_find.html", {"form": form}, status=400)
    link = links.send(
        found["case"].reference,
        by=request.user.get_username(),
        email=form.cleaned_data["link_email"],
        mobile=form.cleaned_data["mobile"],
        language=form.cleaned_data["language"],
        base=request.build_absolute_uri("/"),
    )
    how = ", ".join(x for x in ("email" if link.email else "", "text message" if link.mobile else "") if x)
    audit(request, "send-payment-link", object_type="case", object_id=link.case_reference, detail=f"by {how}")
    return render(request, "staff/payment_link_sent.html", {"link": link, "how": how})


def _sms() -> bool:
    return bool(settings.NOTIFY_API_KEY and settings.NOTIFY_PAYMENT_LINK_SMS_TEMPLATE_ID)


@public
@require_GET
def phone_payment_return(request: HttpRequest, payment_id: str) -> HttpResponse:
    """The provider sends the agent's browser here. This request is cross-site, so it carries
    no staff session (SameSite=Strict): settle the payment, then hand over to the signed-in
    payment page with a link from our own site. Nothing personal is shown here."""
    payment = records.phone_payment_by_id(payment_id)
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
