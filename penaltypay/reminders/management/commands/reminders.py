"""`penaltypay reminders send-due [--json]`: one pass of the reminders now (the worker runs
it every REMINDER_SEND_SECONDS). Exit 0, or 1 when some failed (they are tried again)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from penaltypay.cases.ports import ecs_for_lookups
from penaltypay.reminders.service import send_due


class Command(BaseCommand):
    help = "Reminders before the reduced amount ends: send those due now."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["send-due"])
        parser.add_argument("--json", action="store_true", help="print the counts as JSON")

    def handle(self, *args, action, **options):
        report = send_due(ecs_for_lookups())
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), sort_keys=True))
        else:
            skipped = ", ".join(f"{n} {why}" for why, n in sorted(report.skipped.items())) or "none"
            self.stdout.write(f"sent {report.sent}; skipped {skipped}; failed {report.failed}")
        if report.failed:
            raise CommandError(f"{report.failed} reminder(s) failed; they are tried again on the next pass")
