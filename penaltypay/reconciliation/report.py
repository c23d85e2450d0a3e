"""A run as finance reads it: the JSON the command prints, the CSV the page offers, and
what changed since the run before."""

from __future__ import annotations

from dataclasses import dataclass

from penaltypay.reconciliation.models import ReconciliationItem, ReconciliationRun
from penaltypay.reconciliation.rules import Class

CSV_COLUMNS = [
    "class",
    "kind",
    "payment_reference",
    "reference",
    "case_reference",
    "provider_pence",
    "penaltypay_pence",
    "ecs_pence",
    "bank_pence",
    "detail",
    "action",
]


def as_json(run: ReconciliationRun) -> dict:
    items = run.items.exclude(cls=Class.MATCHED.value).order_by("cls", "case_reference", "key")
    return {
        "date": run.day.isoformat(),
        "status": run.status,
        "problem": run.problem or None,
        "totals": {
            "provider_pence": run.provider_pence,
            "penaltypay_pence": run.penaltypay_pence,
            "ecs_pence": run.ecs_pence,
            # The fourth side: the statement's lines for the day, against the provider's settlement.
            "bank_pence": run.bank_pence,
            "fees_pence": run.fees_pence,
            "settled_net_pence": run.settled_net_pence,
        },
        "bank_loaded": run.bank_loaded,
        "counts": {cls.value: int((run.counts or {}).get(cls.value, 0)) for cls in Class},
        "items": [
            {
                "class": item.cls,
                "kind": item.kind,
                "payment_reference": item.payment_reference,
                "case_reference": item.case_reference,
                "amount_pence": item.amount_pence,
                "bank_pence": item.bank_pence,
                "detail": item.detail,
                "action": item.action,
            }
            for item in items
        ],
    }


def csv_rows(run: ReconciliationRun):
    for item in run.items.order_by("cls", "case_reference", "key").iterator():
        yield [
            item.cls,
            item.kind,
            item.payment_reference,
            item.key,
            item.case_reference,
            item.provider_pence,
            item.penaltypay_pence,
            item.ecs_pence,
            item.bank_pence,
            item.detail,
            item.action,
        ]


@dataclass(frozen=True)
class Change:
    key: str
    was: str  # the class in the previous run, or "" when it was not there
    now: str  # the class in this run, or "" when it has gone


def changes_since_previous(run: ReconciliationRun) -> list[Change]:
    if run.previous is None:
        return []
    before = dict(ReconciliationItem.objects.filter(run=run.previous).values_list("key", "cls"))
    after = dict(ReconciliationItem.objects.filter(run=run).values_list("key", "cls"))
    return sorted(
        (
            Change(key, before.get(key, ""), after.get(key, ""))
            for key in set(before) | set(after)
            if before.get(key) != after.get(key)
        ),
        key=lambda change: change.key,
    )
