"""Writing to the audit log: one call, one row."""

from __future__ import annotations

from penaltypay.audit.models import AuditEntry


def record(
    actor: str,
    action: str,
    *,
    object_type: str = "",
    object_id: str = "",
    address: str = "",
    outcome: str = AuditEntry.SUCCESS,
    detail: str = "",
    actor_kind: str = "staff",
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor[:150],
        actor_kind=actor_kind,
        action=action[:60],
        object_type=object_type[:40],
        object_id=str(object_id)[:80],
        address=address[:64],
        outcome=outcome,
        detail=detail[:500],
    )
