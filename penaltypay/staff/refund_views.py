"""Refunds in the back office (finance, supervisor): ask for one from a payment's page;
another person approves or rejects it there. Four eyes is the server's rule
(`refund_rules.check_decider`), not only the page's."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from penaltypay.payments import records
from penaltypay.payments.ports import payment_provider
from penaltypay.payments.refund_rules import REASONS, RefundRuleBroken
from penaltypay.payments.refunds import (
    approve_refund,
    refundable_by_line,
    reject_refund,
    remaining_refundable,
    request_refund,
)
from penaltypay.staff.forms import DecisionForm, RefundForm
from penaltypay.staff.pages import audit, not_found
from penaltypay.staff.roles import REFUNDS, requires
from penaltypay.staff.views import payment_context


@requires(read=REFUNDS, act=REFUNDS)
@require_http_methods(["GET", "POST"])
def new_refund(request: HttpRequest, reference: str) -> HttpResponse:
    payment = records.payment(reference)
    if payment is None:
        return not_found(request, "There is no payment with that reference.")
    initial = {
        "amount": request.GET.get("amount", ""),
        "reason": request.GET.get("reason", ""),
        "penalty": request.GET.get("penalty", ""),
    }
    by_line = refundable_by_line(payment)
    form = RefundForm(request.POST if request.method == "POST" else None, initial=initial, penalties=list(by_line))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            refund = request_refund(
                payment.reference,
                data["amount"],
                data["reason"],
                data["detail"],
                by=request.user.get_username(),
                case_reference=data["penalty"],
            )
        except RefundRuleBroken as error:
            form.add_error("amount", str(error))
            audit(
                request,
                "request-refund",
                object_type="payment",
                object_id=payment.reference,
                outcome="refused",
                detail=str(error)[:200],
            )
        else:
            audit(
                request,
                "request-refund",
                object_type="refund",
                object_id=refund.reference,
                detail=f"payment {payment.reference}, penalty {refund.case_reference}, {refund.amount_pence} pence, "
                f"{refund.reason}",
            )
            return redirect("staff:payment", reference=payment.reference)
    return render(
        request,
        "staff/refund_new.html",
        {
            "payment": payment,
            "form": form,
            "remaining": remaining_refundable(payment),
            "by_line": by_line,
            "reasons": REASONS,
        },
    )


@requires(read=REFUNDS, act=REFUNDS)
@require_POST
def decide_refund(request: HttpRequest, reference: str) -> HttpResponse:
    refund = records.refund(reference)
    if refund is None:
        return not_found(request, "There is no refund with that reference.")
    form = DecisionForm(request.POST)
    by = request.user.get_username()
    if form.is_valid():
        decision, note = form.cleaned_data["decision"], form.cleaned_data["note"]
        action = f"{decision}-refund"
        try:
            if decision == "approve":
                refund = approve_refund(refund.reference, by=by, note=note, client=payment_provider())
            else:
                refund = reject_refund(refund.reference, by=by, note=note)
        except RefundRuleBroken as error:
            form.add_error(None, str(error))
            audit(
                request,
                action,
                object_type="refund",
                object_id=refund.reference,
                outcome="refused",
                detail=str(error)[:200],
            )
        else:
            audit(request, action, object_type="refund", object_id=refund.reference, detail=f"now {refund.status}")
            return redirect("staff:payment", reference=refund.payment.reference)
    context = payment_context(request, refund.payment)
    context.update(decision_form=form, deciding=refund.reference)
    return render(request, "staff/payment.html", context, status=400)
