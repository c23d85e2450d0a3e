"""`penaltypay generate-extract --count N`: a valid extract of N realistic cases, with
a share of bad records on request (for tests, the benchmark and rehearsals)."""

from __future__ import annotations

import time
from datetime import date, datetime

from django.core.management.base import BaseCommand, CommandError

from penaltypay.extract.generator import generate


def _date(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise CommandError(f"--date {value!r} is not YYYYMMDD") from None


class Command(BaseCommand):
    help = "Write ECS_EXTRACT_<YYYYMMDD>_<SEQ6>.DAT with N realistic cases (optionally some bad records)."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="number of detail records")
        parser.add_argument("--sequence", type=int, default=1, help="file sequence number (default 1)")
        parser.add_argument("--date", default=None, help="extract date YYYYMMDD (default today)")
        parser.add_argument("--bad-share", type=float, default=0.0, help="share of records breaking a field rule, 0-1")
        parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same file)")
        parser.add_argument(
            "--first-index",
            type=int,
            default=0,
            help="index of the first case: files with overlapping ranges share references",
        )
        parser.add_argument("--out", default=".", help="folder to write the file into (default: here)")

    def handle(self, *args, count, sequence, date, bad_share, seed, first_index, out, **options):
        if not 0 <= sequence <= 999_999:
            raise CommandError("--sequence must be between 0 and 999999")
        started = time.monotonic()
        try:
            made = generate(
                out,
                count,
                sequence=sequence,
                extract_date=_date(date) if date else None,
                bad_share=bad_share,
                seed=seed,
                first_index=first_index,
            )
        except (ValueError, OSError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"{made.path}: {made.count} records ({made.bad} bad), penalty total {made.total_penalty_pence} pence, "
            f"{time.monotonic() - started:.1f} s"
        )
