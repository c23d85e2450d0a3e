"""`penaltypay purge [--dry-run] [--json]`: apply the retention policy now
(operations.retention; the worker does it each night at PURGE_AT)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from penaltypay.operations.retention import KINDS, purge, purge_and_record


class Command(BaseCommand):
    help = "Remove or pseudonymise personal data past its retention period (batches; safe to stop and re-run)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="count what would go, change nothing")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, dry_run: bool, json: bool, **options):
        result = purge(dry_run=True) if dry_run else purge_and_record("command")
        if json:
            self.stdout.write(_dumps(result.as_json()))
            return
        verb = "would remove" if dry_run else "removed"
        for kind in KINDS:
            self.stdout.write(f"{kind.name}: {verb} {result.removed[kind.name]} ({kind.what})")
        self.stdout.write(f"took {result.seconds:.1f} s")


def _dumps(value) -> str:
    return json.dumps(value)
