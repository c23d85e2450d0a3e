"""A payment link an agent sent: it shows nothing of the penalty until the keeper confirms
the vehicle's registration (a forwarded link reveals nothing), then the normal journey —
find, pay online with 3-D Secure — with the payment noted as coming from the link."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from penaltypay import ratelimits as ratelimit
from penaltypay.cases.domain import NotPayableReason
from penaltypay.cases.lookup import LookupOutcome, find_case
from penaltypay.cases.ports import ecs_for_lookups
from penaltypay.citizen.forms import ConfirmRegistrationForm
from penaltypay.citizen.views import SESSION_CASE, SESSION_LINK_SENDER, busy, payer_of
from penaltypay.payments import checkout, links
from penaltypay.security import client_address

SESSION_LINK = "payment_link"


@require_http_methods(["GET", "POST"])
def payment_link(request, token: str):
    link = links.find(token)
    state = links.state_of(link) if link is not None else links.LinkState.EXPIRED
    if link is None or state is links.LinkState.EXPIRED:
        return render(request, "citizen/link_expired.html", status=410)
    if state is links.LinkState.PAID:
        return render(request, "citizen/link_paid.html")
    form = ConfirmRegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reservation = ratelimit.reserve_lookup(client_address(request), link.case_reference)
        if isinstance(reservation, ratelimit.Limited):
            response = render(request, "citizen/too_many_attempts.html", {"limited": reservation}, status=429)
            response["Retry-After"] = str(reservation.retry_after_seconds)
            return response
        lookup = find_case(link.case_reference, form.cleaned_data["registration"], ecs_for_lookups())
        ratelimit.record_outcome(
            reservation,
            found=lookup.outcome in (LookupOutcome.FOUND, LookupOutcome.BUSY),
            not_found=lookup.outcome is LookupOutcome.NOT_FOUND,
        )
        if lookup.outcome is LookupOutcome.FOUND and lookup.case is not None:
            if checkout.quote(lookup.case).reason is NotPayableReason.ALREADY_PAID:
                return render(request, "citizen/link_paid.html")
            request.session.cycle_key()
            request.session[SESSION_CASE] = {"reference": link.case_reference, "vrm": lookup.case.vrm}
            request.session[SESSION_LINK] = link.pk
            request.session[SESSION_LINK_SENDER] = link.sent_by
            payer_of(request)
            links.opened(link)
            return redirect("citizen:penalty")
        if lookup.outcome is LookupOutcome.BUSY:
            return busy(request)
        if lookup.outcome is LookupOutcome.UNAVAILABLE:
            return render(request, "citizen/service_unavailable.html", status=503)
        form.add_error(
            "registration", _("That is not the registration number of the vehicle this link is for. Check your letter.")
        )
    return render(request, "citizen/link_confirm.html", {"form": form})
