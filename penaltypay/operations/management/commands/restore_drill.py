"""`penaltypay restore-drill [--json] [--keep]`: dump, restore into a scratch database,
check the copy, print the times (operations.restore_drill). Exit 0 when the copy passes
every integrity check, 1 when it does not, 2 when the drill cannot run."""

from __future__ import annotations

import json
import subprocess

from django.core.management.base import BaseCommand

from penaltypay.operations.restore_drill import DrillRefused, run_drill


class Command(BaseCommand):
    help = "Back up with pg_dump -Fc, restore into a scratch database, run check-integrity on it, time it all."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--keep", action="store_true", help="leave the scratch database for a look")

    def handle(self, *args, json: bool, keep: bool, **options):
        try:
            result = run_drill(keep=keep)
        except DrillRefused as refused:
            self.stderr.write(str(refused))
            raise SystemExit(2) from None
        except subprocess.CalledProcessError as failed:
            self.stderr.write(f"{failed.cmd[0]} failed: {(failed.stderr or b'').decode(errors='replace')[:500]}")
            raise SystemExit(2) from None
        if json:
            self.stdout.write(_dumps(result.as_json()))
        else:
            s = result.seconds
            self.stdout.write(
                f"dump {s.get('dump', 0):.1f} s ({result.dump_bytes:,} bytes), restore {s.get('restore', 0):.1f} s, "
                f"check {s.get('check', 0):.1f} s: {'the copy is whole' if result.ok else 'THE COPY FAILED ITS CHECKS'}"
            )
        if not result.ok:
            raise SystemExit(1)


def _dumps(value) -> str:
    return json.dumps(value)
