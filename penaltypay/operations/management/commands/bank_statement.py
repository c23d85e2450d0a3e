"""`penaltypay bank-statement import FILE [--json]`: load the bank account's statement (CSV:
Date,Description,Amount) for the reconciliation's fourth side. Loading the same statement
again changes nothing; a bad line refuses the whole file, naming its line number.
Exit status 0 loaded (or already loaded), 1 refused."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from penaltypay.audit.log import record
from penaltypay.reconciliation.bank import load_statement
from penaltypay.reconciliation.statement import MAX_BYTES, StatementRefused


class Command(BaseCommand):
    help = "Load a bank statement (CSV with the header Date,Description,Amount) for reconciliation."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        load = actions.add_parser("import", help="load one statement file")
        load.add_argument("file", help="the CSV statement")
        load.add_argument("--json", action="store_true", help="print the outcome as JSON")

    def handle(self, *args, action: str, file: str, json: bool, **options):
        path = Path(file)
        by = f"command line ({getpass.getuser()})"
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror or exc}") from None
        try:
            loaded = load_statement(data, file_name=path.name, by=by)
        except StatementRefused as refused:
            record(by, "bank-statement-import", actor_kind="command", outcome="failure", detail=str(refused)[:500])
            self._say({"status": "refused", "file": path.name, "error": str(refused)}, json, error=True)
            sys.exit(1)
        statement = loaded.statement
        record(
            by,
            "bank-statement-import",
            actor_kind="command",
            object_type="bank-statement",
            object_id=str(statement.pk),
            detail=f"{path.name}: {'already loaded' if loaded.already_loaded else f'{statement.new_lines} new lines'}",
        )
        self._say(
            {
                "status": "already_loaded" if loaded.already_loaded else "loaded",
                "file": path.name,
                "first_day": statement.first_day.isoformat(),
                "last_day": statement.last_day.isoformat(),
                "lines": statement.lines,
                "new_lines": 0 if loaded.already_loaded else statement.new_lines,
            },
            json,
        )

    def _say(self, outcome: dict, as_json: bool, *, error: bool = False) -> None:
        if as_json:  # on stdout whatever the outcome: the exit status says which
            self.stdout.write(json.dumps(outcome, indent=2))
            return
        if error:
            self.stderr.write(f"{outcome['file']} refused, nothing loaded: {outcome['error']}")
        elif outcome["status"] == "already_loaded":
            self.stdout.write(f"{outcome['file']} was loaded before: nothing changed")
        else:
            self.stdout.write(
                f"{outcome['file']}: {outcome['lines']} lines, {outcome['new_lines']} new, "
                f"{outcome['first_day']} to {outcome['last_day']}"
            )
