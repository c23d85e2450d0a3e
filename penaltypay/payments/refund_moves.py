"""Moving a refund: only along the transition table (refund_rules.MOVES), only from the
status it was read in (compare-and-set), and each move written to its history
(`RefundEvent`) in the same transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from penaltypay.payments.models import Refund, RefundEvent
from penaltypay.payments.refund_rules import FINISHED, RefundStatus, move_allowed


def move_refund(
    refund: Refund,
    target: RefundStatus,
    *,
    source: str,
    by: str = "",
    note: str = "",
    held_by: str | None = None,
    **fields: Any,
) -> bool:
    """Apply `target` if the refund is still where it was read (and, with `held_by`, its
    lease is still that owner's). False: someone else moved it first, or the move is not
    one a refund may make; nothing was written."""
    current = refund.state
    if not move_allowed(current, target):
        return False
    now = timezone.now()
    updates: dict[str, Any] = {"status": target.value, "updated_at": now, **fields}
    if target in FINISHED:
        updates.setdefault("finished_at", now)
        updates.update(lease_owner="", lease_until=None)
    rows = Refund.objects.filter(pk=refund.pk, status=current.value)
    if held_by is not None:
        rows = rows.filter(lease_owner=held_by)
    with transaction.atomic():
        if rows.update(**updates) != 1:
            return False
        RefundEvent.objects.create(
            refund_id=refund.pk,
            from_status=current.value,
            to_status=target.value,
            source=source,
            by=by,
            note=note[:300],
        )
    for key, value in updates.items():
        setattr(refund, key, value)
    return True


def record_request(refund: Refund, by: str) -> None:
    """The first line of a refund's history."""
    RefundEvent.objects.create(refund=refund, from_status="", to_status=refund.status, source="request", by=by)
