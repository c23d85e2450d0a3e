"""The exceptions queue (finance, support, supervisor; the auditor reads): oldest first,
counts by kind, a filter, and on each row the actions that resolve it."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from penaltypay.ecs.outbox import NotAnException, requeue_exception, resolve_exception, send_now
from penaltypay.exceptions.queue import (
    APPROVE,
    DISPUTED,
    ECS_REFUSED,
    KINDS,
    NOT_RECORDED,
    OVERPAID,
    PAID_ANOTHER_WAY,
    REFUND_FAILED,
    REFUND_OFFLINE,
    REFUND_UNKNOWN,
    STUCK,
    Item,
    NothingToResolve,
    counts,
    open_exceptions,
    resolve_refund_failure,
    resolve_unrecorded,
    review_overpayment,
)
from penaltypay.payments import records
from penaltypay.payments.disputes import note_evidence_sent
from penaltypay.payments.ports import payment_provider
from penaltypay.payments.refund_offline import decide_paid_another_way, record_paid_another_way
from penaltypay.payments.refund_rules import OFFLINE_METHODS, RefundRuleBroken
from penaltypay.payments.refunds import (
    adopt_provider_refund,
    ask_provider_again,
    remaining_refundable,
    request_refund,
)
from penaltypay.staff.pages import audit
from penaltypay.staff.roles import EXCEPTIONS, FINANCE, REFUNDS, requires, roles_of

REFUND_REASON = {ECS_REFUSED: "case-closed", OVERPAID: "overpaid", REFUND_FAILED: "other"}


def _queue(request: HttpRequest, problem: str = "", status: int = 200) -> HttpResponse:
    kind = request.GET.get("kind", "") if request.GET.get("kind", "") in KINDS else ""
    everything = open_exceptions()
    shown = [item for item in everything if not kind or item.kind == kind]
    roles = roles_of(request.user)
    return render(
        request,
        "staff/exceptions.html",
        {
            "items": shown,
            "counts": counts(everything),
            "kinds": KINDS,
            "kind": kind,
            "problem": problem,
            "may_act": bool(roles & EXCEPTIONS),
            "may_refund": bool(roles & REFUNDS),
            "methods": OFFLINE_METHODS,
            "me": request.user.get_username(),
        },
        status=status,
    )


@requires(read=EXCEPTIONS)
@require_GET
def exceptions(request: HttpRequest) -> HttpResponse:
    return _queue(request)


def _refund_url(item: Item) -> str:
    payment = records.payment(item.payment_reference)
    if payment is None:  # an exception always names a payment of ours
        raise Http404("no such payment")
    amount = min(item.money_pence, remaining_refundable(payment, item.case_reference))
    query = urlencode(
        {"amount": f"{amount / 100:.2f}", "reason": REFUND_REASON[item.kind], "penalty": item.case_reference}
    )
    return reverse("staff:refund-new", args=[payment.reference]) + "?" + query


@requires(read=EXCEPTIONS, act=EXCEPTIONS)
@require_POST
def act(request: HttpRequest) -> HttpResponse:
    key, action = request.POST.get("key", ""), request.POST.get("action", "")
    note = request.POST.get("note", "").strip()
    item = next((item for item in open_exceptions() if item.key == key), None)
    by = request.user.get_username()
    if item is None or action not in item.actions:
        audit(
            request,
            f"exception-{action or 'act'}",
            object_type="exception",
            object_id=key[:80],
            outcome="refused",
            detail="no longer open",
        )
        return _queue(request, "Someone else has dealt with that exception, or it has gone", 409)
    if action == "refund":
        if not roles_of(request.user) & REFUNDS:
            return _queue(request, "Only finance can refund", 403)
        if item.kind == OVERPAID:
            return _refund_excess(request, item)
        return redirect(_refund_url(item))
    if item.kind != STUCK and not note:
        return _queue(request, "Say what was done and why before you retry or resolve it", 400)
    if item.kind == REFUND_UNKNOWN:
        return _settle_unknown_refund(request, item, action, note)
    if item.kind == DISPUTED:
        return _evidence_sent(request, item, note)
    if action == PAID_ANOTHER_WAY or item.kind == REFUND_OFFLINE:
        return _paid_another_way(request, item, action, note)
    try:
        if item.kind == STUCK:
            send_now(item.outbox_event or 0, by=by)
        elif item.kind == ECS_REFUSED:
            (requeue_exception if action == "retry" else resolve_exception)(item.outbox_event or 0, by=by, note=note)
        elif item.kind == REFUND_FAILED:
            resolve_refund_failure(item.refund_reference, by=by, note=note)
        elif item.kind == NOT_RECORDED:
            resolve_unrecorded(item.key.split(":", 1)[1], by=by, note=note)
        else:
            review_overpayment(item.case_reference, item.money_pence, by=by, note=note)
    except (NotAnException, NothingToResolve):
        return _queue(request, "Someone else has dealt with that exception", 409)
    audit(request, f"exception-{action}", object_type="exception", object_id=key[:80], detail=note[:200])
    return redirect(reverse("staff:exceptions") + (f"?kind={item.kind}" if request.GET.get("kind") else ""))


def _paid_another_way(request: HttpRequest, item: Item, action: str, note: str) -> HttpResponse:
    """A refund the provider could not make: one finance user records it paid by transfer or
    cheque; another approves (ECS is told then) or rejects it."""
    if not roles_of(request.user) & REFUNDS:
        return _queue(request, "Only finance can record how a refund was paid", 403)
    by = request.user.get_username()
    try:
        if action == PAID_ANOTHER_WAY:
            refund = record_paid_another_way(
                item.refund_reference,
                method=request.POST.get("method", ""),
                reference=request.POST.get("reference", ""),
                by=by,
                note=note,
            )
            detail = f"{refund.offline_method} {refund.offline_reference}: {note[:120]}"
        else:
            refund = decide_paid_another_way(item.refund_reference, approve=action == APPROVE, by=by, note=note)
            detail = f"{action}d: {note[:150]}"
    except RefundRuleBroken as error:
        return _queue(request, str(error), 400)
    audit(request, f"refund-offline-{action}", object_type="refund", object_id=refund.reference, detail=detail)
    return redirect("staff:payment", reference=item.payment_reference)


def _evidence_sent(request: HttpRequest, item: Item, note: str) -> HttpResponse:
    """Finance answered the provider's dispute form: what was sent is kept with the dispute."""
    if not roles_of(request.user) & FINANCE:
        return _queue(request, "Only finance can answer a dispute", 403)
    try:
        note_evidence_sent(item.refund_reference, by=request.user.get_username(), note=note)
    except ValueError as error:
        return _queue(request, str(error), 409)
    audit(request, "dispute-evidence-sent", object_type="payment", object_id=item.payment_reference, detail=note[:200])
    return redirect(reverse("staff:exceptions") + f"?kind={DISPUTED}")


def _settle_unknown_refund(request: HttpRequest, item: Item, action: str, note: str) -> HttpResponse:
    """Finance, having looked at the provider's console: that refund there is this one
    (adopt), or none of them is (ask the provider again)."""
    if not roles_of(request.user) & REFUNDS:
        return _queue(request, "Only finance can settle a refund", 403)
    chosen = request.POST.get("provider_refund_id", "")
    try:
        if action == "adopt":
            if chosen not in item.choices:
                return _queue(request, "Choose which of the provider's refunds is this one", 400)
            refund = adopt_provider_refund(
                item.refund_reference, chosen, by=request.user.get_username(), note=note, client=payment_provider()
            )
        else:
            refund = ask_provider_again(
                item.refund_reference, by=request.user.get_username(), note=note, client=payment_provider()
            )
    except RefundRuleBroken as error:
        return _queue(request, str(error), 409)
    audit(
        request,
        f"exception-{action}",
        object_type="refund",
        object_id=refund.reference,
        detail=(f"provider refund {chosen}: " if action == "adopt" else "asked again: ") + note[:150],
    )
    return redirect("staff:payment", reference=item.payment_reference)


def _refund_excess(request: HttpRequest, item: Item) -> HttpResponse:
    """One click: a refund request for the excess (capped at what the latest payment can
    give back); a second finance user still approves it."""
    payment = records.payment(item.payment_reference)
    if payment is None:
        raise Http404("no such payment")
    amount = min(item.money_pence, remaining_refundable(payment, item.case_reference))
    try:
        refund = request_refund(
            payment.reference,
            amount,
            "overpaid",
            f"excess of {item.money_pence} pence on the case",
            by=request.user.get_username(),
            case_reference=item.case_reference,
        )
    except RefundRuleBroken as error:
        return _queue(request, str(error), 400)
    audit(
        request,
        "request-refund",
        object_type="refund",
        object_id=refund.reference,
        detail=f"excess on case {item.case_reference}, {amount} pence",
    )
    return redirect("staff:payment", reference=payment.reference)
