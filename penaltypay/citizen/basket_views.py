"""Several penalties in one payment (a fleet's, a dealer's): the GOV.UK "add another"
pattern. From a penalty's page the keeper adds it and finds another; the basket page lists
them, lets one be removed and shows the total; "Continue to payment" asks the checkout
(penaltypay.payments.checkout.check_out_basket), which quotes every line again and says
what changed before any card page. The basket lives in the keeper's session."""

from __future__ import annotations

import logging

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from penaltypay.cases.domain import CASE_TYPE_NAMES
from penaltypay.cases.ports import ecs_for_lookups
from penaltypay.cases.store import local_case
from penaltypay.citizen import typed
from penaltypay.citizen.forms import BasketPayForm
from penaltypay.citizen.views import (
    SESSION_BASKET,
    SESSION_CASE,
    SESSION_EMAIL,
    after_checkout,
    busy,
    current_case,
    payer_of,
    return_url,
)
from penaltypay.payments import checkout
from penaltypay.payments.creation import PaymentBusy, PaymentUnavailable, retry_after_seconds
from penaltypay.payments.ports import ProviderBusy, ProviderError, payment_provider
from penaltypay.reminders import service as reminders

log = logging.getLogger("penaltypay.citizen")


def basket_of(request) -> list[dict]:
    return list(request.session.get(SESSION_BASKET, []))


def _lines(request):
    """The basket as the keeper sees it now: each penalty quoted again (the one rule)."""
    rows = []
    for entry in basket_of(request):
        case = local_case(entry["reference"], entry["vrm"])
        if case is None:
            continue
        quote = checkout.quote(case)
        rows.append(
            {
                "case": case,
                "type_name": CASE_TYPE_NAMES.get(case.case_type, case.case_type),
                "due": quote.due,
                "payable": quote.payable,
            }
        )
    return rows


def _page(request, form=None, *, changes=(), problem: str = "", status: int = 200):
    rows = _lines(request)
    form = form or BasketPayForm(initial={"email": request.session.get(SESSION_EMAIL, "")})
    return render(
        request,
        "citizen/basket.html",
        {
            "rows": rows,
            "total": sum(row["due"].total_pence for row in rows if row["payable"]),
            "reminder_offered": reminders.available() and any(row["payable"] and row["due"].reduced for row in rows),
            "form": form,
            "changes": changes,
            "problem": problem,
            "full": len(rows) >= checkout.MAX_BASKET,
            "limit": checkout.MAX_BASKET,
        },
        status=status,
    )


@require_POST
def add(request):
    """The penalty on show joins the basket; then find another, or see the basket."""
    case = current_case(request)
    if case is None:
        return redirect("citizen:find")
    quote = checkout.quote(case)
    if not quote.payable:
        return redirect("citizen:penalty")
    basket = [entry for entry in basket_of(request) if entry["reference"] != case.reference]
    if len(basket) >= checkout.MAX_BASKET:
        return _page(request, problem=_limit_message(), status=400)
    basket.append({"reference": case.reference, "vrm": case.vrm, "seen": quote.due.total_pence})
    request.session[SESSION_BASKET] = basket
    if request.POST.get("then") == "basket" or len(basket) >= checkout.MAX_BASKET:
        return redirect("citizen:basket")
    return redirect("citizen:find")


def _limit_message() -> str:
    return _(
        "You can pay up to %(limit)s penalties in one payment. Pay these first, then start again for the rest."
    ) % {"limit": checkout.MAX_BASKET}


@require_http_methods(["GET", "POST"])
def basket(request):
    """The basket; a POST with `remove` takes one penalty out."""
    if request.method == "POST" and "remove" in request.POST:
        reference = request.POST.get("remove", "")
        request.session[SESSION_BASKET] = [e for e in basket_of(request) if e["reference"] != reference]
        if not request.session[SESSION_BASKET]:
            return redirect("citizen:find")
        return redirect("citizen:basket")
    if not basket_of(request):
        return redirect("citizen:find")
    shown = typed.switched(request, "basket", BasketPayForm)
    return _page(request, shown)


@require_POST
def pay(request):
    entries = basket_of(request)
    if not entries:
        return redirect("citizen:find")
    typed.remember(request, "basket", BasketPayForm)
    form = BasketPayForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    email = form.cleaned_data["email"]
    request.session[SESSION_EMAIL] = email
    lines = []
    for entry in entries:
        case = local_case(entry["reference"], entry["vrm"])
        if case is not None:
            lines.append((case, entry["seen"]))
    try:
        outcome = checkout.check_out_basket(
            lines,
            payer_of(request),
            email=email,
            language=(get_language() or "en")[:2],
            payer_reference=form.cleaned_data["your_reference"],
            return_url_for=lambda p: return_url(request, p),
            client=payment_provider(),
            source=ecs_for_lookups(),
        )
    except (PaymentBusy, ProviderBusy) as error:
        return busy(request, retry_after_seconds(error), again=reverse("citizen:basket"))
    except (PaymentUnavailable, ProviderError):
        log.warning("basket payment could not be started")
        return render(request, "citizen/payment_unavailable.html", status=503)
    if isinstance(outcome, checkout.BasketChanged):
        _apply(request, outcome)
        if not basket_of(request):
            request.session.pop(SESSION_CASE, None)
        return _page(request, form, changes=outcome.changes, status=409)
    return after_checkout(request, outcome)


def _apply(request, changed: checkout.BasketChanged) -> None:
    """The basket as it now stands: new amounts kept, lines that cannot be paid taken out."""
    now = {change.case.reference: change for change in changed.changes}
    kept = []
    for entry in basket_of(request):
        change = now.get(entry["reference"])
        if change is None:
            kept.append(entry)
        elif change.now_pence is not None:
            kept.append({**entry, "seen": change.now_pence})
    request.session[SESSION_BASKET] = kept
