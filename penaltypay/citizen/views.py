"""The keeper's journey. Views read forms and call domain services; no rules live here."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from django import forms
from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from penaltypay import ratelimits as ratelimit
from penaltypay.cases.domain import CASE_TYPE_NAMES, NotPayableReason
from penaltypay.cases.lookup import LookupOutcome, find_case
from penaltypay.cases.ports import ecs_for_lookups
from penaltypay.cases.store import local_case
from penaltypay.citizen import typed
from penaltypay.citizen.confirmation import confirmation_proof, confirmation_shown
from penaltypay.citizen.forms import FeedbackForm, FindPenaltyForm, ReceiptEmailForm
from penaltypay.citizen.receipt_views import allow_receipt
from penaltypay.kernel.security_events import PAYMENT_PAGE_OTHER_SESSION, security_event
from penaltypay.payments import checkout, links, records
from penaltypay.payments.creation import PaymentBusy, PaymentUnavailable, retry_after_seconds
from penaltypay.payments.domain import Outcome, PaymentStatus, outcome_of
from penaltypay.payments.ports import payment_provider

if TYPE_CHECKING:
    from penaltypay.payments.models import Payment
from penaltypay.payments.ports import ProviderBusy, ProviderError
from penaltypay.payments.settlement import refresh_payment
from penaltypay.reminders import service as reminders
from penaltypay.reporting.record import give_feedback, note_lookup
from penaltypay.security import client_address
from penaltypay.web.language import SESSION_KEY as SESSION_LANGUAGE
from penaltypay.web.language import keep_language

log = logging.getLogger(__name__)

SESSION_CASE = "case"
SESSION_EMAIL = "receipt_email"
SESSION_PAYMENTS = "payments"
SESSION_PAYER = "payer"  # this keeper's token: only this session resumes its own payments
SESSION_LINK_SENDER = "link_sent_by"  # the agent whose payment link this keeper opened
SESSION_BASKET = "basket"  # [{"reference", "vrm", "seen"}]: penalties to pay together, and what was seen


def current_case(request):
    held = request.session.get(SESSION_CASE)
    if not held:
        return None
    return local_case(held["reference"], held["vrm"])


def basket_cases(request) -> list:
    """The penalties in the keeper's list, as we hold them."""
    cases = [local_case(entry["reference"], entry["vrm"]) for entry in request.session.get(SESSION_BASKET, [])]
    return [case for case in cases if case is not None]


@require_GET
def start(request):
    return render(request, "citizen/start.html")


@require_http_methods(["GET", "POST"])
def find_penalty(request):
    shown = typed.switched(request, "find", FindPenaltyForm)
    if shown is not None:
        return render(request, "citizen/find.html", {"form": shown, "basket_count": _basket_count(request)})
    form = FindPenaltyForm(request.POST or None)
    if request.method == "POST":
        typed.remember(request, "find", FindPenaltyForm)
    if request.method == "POST" and form.is_valid():
        reference = form.cleaned_data["reference"]
        vrm = form.cleaned_data["registration"]
        reservation = ratelimit.reserve_lookup(client_address(request), reference)
        if isinstance(reservation, ratelimit.Limited):
            response = render(request, "citizen/too_many_attempts.html", {"limited": reservation}, status=429)
            response["Retry-After"] = str(reservation.retry_after_seconds)
            return response
        lookup = find_case(reference, vrm, ecs_for_lookups())
        ratelimit.record_outcome(
            reservation,
            # A busy look-up never asked ECS: like a found one, it uses up nothing of the reference's.
            found=lookup.outcome in (LookupOutcome.FOUND, LookupOutcome.BUSY),
            not_found=lookup.outcome is LookupOutcome.NOT_FOUND,
        )
        if lookup.outcome is LookupOutcome.FOUND:
            assert lookup.case is not None
            note_lookup(reference, payable=checkout.quote(lookup.case).payable)
            # A new session for a new case (no fixation); one not saved yet gets its key when saved.
            if request.session.session_key is not None:
                request.session.cycle_key()
            request.session[SESSION_CASE] = {"reference": reference, "vrm": vrm}
            payer_of(request)  # now, while the answer is one the session is saved with (not a 5xx)
            return redirect("citizen:penalty")
        if lookup.outcome is LookupOutcome.NOT_PAYABLE_HERE:
            return render(
                request, "citizen/not_payable.html", {"reason": NotPayableReason.TYPE_NOT_PAYABLE_ONLINE.value}
            )
        if lookup.outcome is LookupOutcome.BUSY:
            return busy(request)
        if lookup.outcome is LookupOutcome.UNAVAILABLE:
            return render(request, "citizen/service_unavailable.html", status=503)
        # Not found and vehicle mismatch: one message, so a reference cannot be confirmed alone.
        form.add_error(
            None,
            _(
                "We could not find a penalty with that reference and registration number. "
                "Check your letter and try again."
            ),
        )
    return render(request, "citizen/find.html", {"form": form, "basket_count": _basket_count(request)})


def _basket_count(request) -> int:
    return len(request.session.get(SESSION_BASKET, []))


def _penalty_context(case):
    quote = checkout.quote(case)
    return {
        "case": case,
        "case_type_name": CASE_TYPE_NAMES.get(case.case_type, case.case_type),
        "due": quote.due,
        "full_amount": quote.after_reduction,
        "reason": quote.reason,
    }


def payer_of(request) -> checkout.Payer:
    token = request.session.get(SESSION_PAYER)
    if not token:
        token = request.session[SESSION_PAYER] = secrets.token_urlsafe(18)
    return checkout.Payer.keeper(
        token,
        address_hash=ratelimit.address_hash(client_address(request)),
        link_sent_by=request.session.get(SESSION_LINK_SENDER, ""),
    )


@require_GET
def penalty(request):
    case = current_case(request)
    if case is None:
        return redirect("citizen:find")
    context = _penalty_context(case)
    if context["reason"] is not None:
        return render(request, "citizen/not_payable.html", {**context, "reason": context["reason"].value})
    basket = request.session.get(SESSION_BASKET, [])
    context["basket_count"] = len(basket)
    context["in_basket"] = any(entry["reference"] == case.reference for entry in basket)
    context["reminder_offered"] = context["due"].reduced and reminders.available()
    return render(request, "citizen/penalty.html", context)


def return_url(request, payment: Payment) -> str:
    path = reverse("citizen:payment-return", args=[payment.id])
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}{path}" if base else request.build_absolute_uri(path)


@require_http_methods(["GET", "POST"])
def pay_now(request):
    case = current_case(request)
    if case is None:
        return redirect("citizen:find")
    shown = typed.switched(request, "pay", ReceiptEmailForm)
    if request.method == "POST" and shown is None:
        typed.remember(request, "pay", ReceiptEmailForm)
        form: forms.Form = ReceiptEmailForm(request.POST)
        if form.is_valid():
            # The checkout quotes again itself (and says if it cannot be paid now): no quote here.
            email = form.cleaned_data["email"]
            request.session[SESSION_EMAIL] = email
            try:
                outcome = checkout.check_out(
                    case,
                    payer_of(request),
                    email=email,
                    language=(get_language() or "en")[:2],
                    return_url_for=lambda p: return_url(request, p),
                    client=payment_provider(),
                )
            except (PaymentBusy, ProviderBusy) as error:
                return busy(request, retry_after_seconds(error), again=reverse("citizen:pay"))
            except (PaymentUnavailable, ProviderError):
                log.warning("payment could not be started or resumed")
                return render(request, "citizen/payment_unavailable.html", status=503)
            return after_checkout(request, outcome)
    else:
        form = shown or ReceiptEmailForm(initial={"email": request.session.get(SESSION_EMAIL, "")})
    context = _penalty_context(case)
    if context["reason"] is not None:
        return redirect("citizen:penalty")
    return render(request, "citizen/pay.html", {**context, "form": form})


def after_checkout(request, outcome: checkout.Outcome):
    """The checkout's answer as the keeper's next page."""
    if isinstance(outcome, checkout.NotPayable):
        return redirect("citizen:penalty")
    if isinstance(outcome, checkout.PaidElsewhere):
        return render(
            request,
            "citizen/being_paid.html",
            {"by_phone": outcome.channel == checkout.PHONE, "until": outcome.until},
            status=409,
        )
    if isinstance(outcome, checkout.CardPageRefused):
        return render(request, "citizen/payment_unavailable.html", status=503)
    if isinstance(outcome, checkout.Paused):
        response = render(request, "citizen/paused.html", {"pause": outcome.pause}, status=429)
        response["Retry-After"] = str(max(1, int((outcome.pause.until - timezone.now()).total_seconds())))
        return response
    _remember_payment(request, outcome.payment)
    if (link_pk := request.session.get("payment_link")) is not None:
        links.payment_started(link_pk, outcome.payment.reference)
    if outcome.next_url is None:
        return redirect("citizen:payment-complete", payment_id=outcome.payment.id)
    return HttpResponseRedirect(outcome.next_url, status=303)


def busy(request, retry_after: int = 60, again: str = ""):
    """Too many keepers are waiting on ECS or the provider right now: a clear page, and where
    the keeper was paying a way back to the same step (their look-up is kept)."""
    if again:
        request.session.save()  # Django saves no session with a 5xx: keep the address they gave
    response = render(request, "citizen/busy.html", {"again": again}, status=503)
    response["Retry-After"] = str(retry_after)
    return response


def _remember_payment(request, payment: Payment) -> None:
    ids = request.session.get(SESSION_PAYMENTS, [])
    if str(payment.id) not in ids:
        request.session[SESSION_PAYMENTS] = (ids + [str(payment.id)])[-10:]


def _payment_or_404(payment_id) -> Payment:
    found = records.payment_by_id(payment_id)
    if found is None:
        raise Http404("no such payment")
    return found


OUTCOME_TEMPLATES = {
    Outcome.DECLINED: "citizen/outcomes/declined.html",
    Outcome.EXPIRED: "citizen/outcomes/expired.html",
    Outcome.CANCELLED_BY_PAYER: "citizen/outcomes/cancelled_by_you.html",
    Outcome.CANCELLED_BY_SERVICE: "citizen/outcomes/cancelled_by_service.html",
    Outcome.PROVIDER_ERROR: "citizen/outcomes/error.html",
    Outcome.NOT_TAKEN: "citizen/payment_unavailable.html",
}


def _payers_payment(request, payment_id) -> Payment | None:
    """The payment, only for the session that started it. Its link travels in the provider's
    return URL, browser history and logs: anyone else learns nothing from it."""
    payment = _payment_or_404(payment_id)
    if str(payment.id) in request.session.get(SESSION_PAYMENTS, []):
        return payment
    security_event(PAYMENT_PAGE_OTHER_SESSION, payment_reference=payment.reference, path=request.path)
    return None


def _elsewhere(request):
    return render(request, "citizen/payment_elsewhere.html")


@require_GET
def payment_return(request, payment_id):
    """The provider sends the keeper here with no outcome: read it from the provider."""
    payment = _payers_payment(request, payment_id)
    if payment is None:
        return _elsewhere(request)
    if payment.is_live:
        try:
            payment = refresh_payment(payment, payment_provider(), source="return")
        except ProviderError:
            log.warning("provider unreachable on return", extra={"payment_reference": payment.reference})
            return render(request, "citizen/outcomes/checking.html", {"payment": payment}, status=503)
    if payment.state is PaymentStatus.SUCCESS:
        return redirect("citizen:payment-complete", payment_id=payment.id)
    if payment.is_live:
        return render(request, "citizen/outcomes/checking.html", {"payment": payment})
    template = OUTCOME_TEMPLATES[outcome_of(payment.status, payment.failure_code)]
    return render(request, template, {"payment": payment})


@require_http_methods(["GET", "POST"])
def payment_complete(request, payment_id):
    if request.method == "POST":
        # The language switch on the confirmation: the page again, in the other language,
        # for the browser that was shown it in the last few minutes (the proof travels in
        # the page's form, never in an address).
        payment = _payment_or_404(payment_id)
        if typed.SWITCH not in request.POST or not confirmation_shown(request.POST.get("receipt", ""), payment):
            return _elsewhere(request)
    else:
        mine = _payers_payment(request, payment_id)
        if mine is None:
            return _elsewhere(request)
        payment = mine
    if payment.state is not PaymentStatus.SUCCESS:
        return redirect("citizen:payment-return", payment_id=payment.id)
    response = render(
        request,
        "citizen/confirmation.html",
        {
            "payment": payment,
            "case_type_name": CASE_TYPE_NAMES.get(payment.case_type, "penalty"),
            "lines": [
                {"line": line, "type_name": CASE_TYPE_NAMES.get(line.case_type, "penalty")}
                for line in payment.lines.all()
            ],
            "receipt_proof": confirmation_proof(payment),
        },
    )
    # Paid: the session has done its job. Ending it here means the page's details are not
    # there for whoever uses this browser next (the receipt email keeps them); only the
    # keeper's language stays.
    language = request.session.get(SESSION_LANGUAGE, "")
    request.session.flush()
    keep_language(request, language)
    return allow_receipt(request, response, payment)  # the PDF stays this browser's for a while


@require_GET
def start_again(request):
    language = request.session.get(SESSION_LANGUAGE, "")
    basket = request.session.get(SESSION_BASKET, [])  # the penalties already added stay
    request.session.flush()
    keep_language(request, language)
    if basket:
        request.session[SESSION_BASKET] = basket
    return redirect("citizen:find")


@require_http_methods(["GET", "POST"])
def feedback(request):
    """The GOV.UK feedback pattern: how satisfied, and how we could improve; no personal data."""
    source = request.GET.get("from", "") if request.GET.get("from", "") in ("confirmation", "banner") else ""
    shown = typed.switched(request, "feedback", FeedbackForm)
    if shown is not None:
        source = source or request.POST.get("source", "")[:20]
        return render(request, "citizen/feedback.html", {"form": shown, "source": source})
    if request.method == "POST":
        typed.remember(request, "feedback", FeedbackForm)
    form = FeedbackForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if not ratelimit.allow_feedback(client_address(request)):
            return render(request, "citizen/feedback.html", {"form": form, "limited": True}, status=429)
        give_feedback(
            int(form.cleaned_data["rating"]), form.cleaned_data["comments"], request.POST.get("source", "")[:20]
        )
        return render(request, "citizen/feedback_sent.html")
    return render(request, "citizen/feedback.html", {"form": form, "source": source})


def robots(request):
    return HttpResponse("User-agent: *\nDisallow: /\n", content_type="text/plain")
