"""`penaltypay reconcile --date YYYY-MM-DD [--json] [--resume]`: the day's three-way
reconciliation. Exit status 0 balanced, 1 differences, 2 incomplete."""

from __future__ import annotations

import json
import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from penaltypay.audit.log import record
from penaltypay.ecs.ports import ecs_for_delivery
from penaltypay.payments.ports import payment_provider
from penaltypay.reconciliation.models import ReconciliationRun
from penaltypay.reconciliation.report import as_json
from penaltypay.reconciliation.run import reconcile_day

EXIT = {ReconciliationRun.BALANCED: 0, ReconciliationRun.DIFFERENCES: 1, ReconciliationRun.INCOMPLETE: 2}


class Command(BaseCommand):
    help = (
        "Reconcile one day: the provider, penaltypay and the ECS ledger. Exit 0 balanced, 1 differences, 2 incomplete."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, help="the Europe/London day, YYYY-MM-DD")
        parser.add_argument("--json", action="store_true")
        parser.add_argument(
            "--resume",
            action="store_true",
            help="continue the day's last incomplete run, reading only the ECS ledgers it lacks",
        )

    def handle(self, *args, date: str, json: bool, resume: bool, **options):
        day = _day(date)
        run = reconcile_day(
            day,
            provider=payment_provider(),
            ecs_factory=ecs_for_delivery,
            trigger="command",
            by="command line",
            resume=resume,
        )
        record(
            "command line",
            "reconcile",
            actor_kind="command",
            object_type="reconciliation",
            object_id=str(run.pk),
            detail=f"{day} {run.status}",
        )
        report = as_json(run)
        if json:
            self.stdout.write(_dumps(report))
        else:
            self.stdout.write(f"{day}: {run.status}" + (f" ({run.problem})" if run.problem else ""))
            for name, count in report["counts"].items():
                if count:
                    self.stdout.write(f"  {name}: {count}")
        sys.exit(EXIT[run.status])


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--date must be a date like 2026-11-27, not {text!r}") from None


def _dumps(value: dict) -> str:
    return json.dumps(value, indent=2)
