"""Does this database hold a whole, consistent service? Run against a restored copy (the
restore drill) or the live database: every successful payment and refund is on its way
to ECS or in it, the money per day agrees between payments and ECS deliveries, nothing
points at a row that is not there, and the schema is at the latest migration."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from penaltypay.ecs import deliveries
from penaltypay.kernel.clock import london_date
from penaltypay.payments import figures

SAMPLE = 10  # references shown per failed check


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    examples: list[str] = field(default_factory=list)


def _payments_on_their_way() -> Check:
    queued = deliveries.queued_references(deliveries.PAYMENT)
    missing = [
        reference
        for reference, recorded in figures.successful_payments_and_ecs()
        if reference not in queued and recorded is None
    ]
    return Check(
        "payments_reach_ecs",
        not missing,
        f"{len(missing)} successful payments with neither an outbox event nor an ECS record",
        missing[:SAMPLE],
    )


def _refunds_on_their_way() -> Check:
    queued = deliveries.queued_references(deliveries.REFUND)
    missing = [
        reference
        for reference, recorded, note in figures.successful_refunds_and_ecs()
        if reference not in queued and recorded is None and not note  # a note: decided not to go to ECS
    ]
    return Check(
        "refunds_reach_ecs", not missing, f"{len(missing)} successful refunds not on their way to ECS", missing[:SAMPLE]
    )


def _money_per_day() -> Check:
    """Per Europe/London day of payment, what we took equals what we send to ECS."""
    taken: dict[str, int] = defaultdict(int)
    events = deliveries.queued_payment_amounts()
    sent: dict[str, int] = defaultdict(int)
    for reference, amount, paid_at in figures.successful_payment_amounts():
        if reference not in events or paid_at is None:
            continue
        day = london_date(paid_at).isoformat()
        taken[day] += amount
        sent[day] += events[reference]
    wrong = sorted(day for day in taken if taken[day] != sent[day])
    return Check("money_per_day", not wrong, f"{len(taken)} days compared; {len(wrong)} disagree", wrong[:SAMPLE])


def _orphans() -> Check:
    references = figures.payment_references()
    orphan_events = sorted({r for r in deliveries.payment_references_queued() if r not in references})
    return Check(
        "no_orphans",
        not orphan_events,
        f"{len(orphan_events)} ECS outbox events for payments this database does not hold",
        orphan_events[:SAMPLE],
    )


def _migrations() -> Check:
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    names = [f"{migration.app_label}.{migration.name}" for migration, _ in pending]
    return Check("migrations_at_head", not names, f"{len(names)} migrations not applied", names[:SAMPLE])


def check_integrity() -> list[Check]:
    return [_migrations(), _payments_on_their_way(), _refunds_on_their_way(), _money_per_day(), _orphans()]
