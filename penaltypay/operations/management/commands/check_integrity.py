"""`penaltypay check-integrity [--json]`: is this database whole and consistent
(operations.integrity)? Exit 0 when every check passes, 1 otherwise. Point it at a
restored copy with DATABASE_URL (the restore drill does)."""

from __future__ import annotations

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand

from penaltypay.operations.integrity import check_integrity


class Command(BaseCommand):
    help = "Check the database: payments and refunds on their way to ECS, money per day, orphans, migrations."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, json: bool, **options):
        checks = check_integrity()
        ok = all(check.ok for check in checks)
        if json:
            self.stdout.write(_dumps({"ok": ok, "checks": [asdict(check) for check in checks]}))
        else:
            for check in checks:
                self.stdout.write(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        if not ok:
            raise SystemExit(1)


def _dumps(value) -> str:
    return json.dumps(value)
