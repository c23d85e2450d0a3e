"""Keeping the bank statement finance loads, for the reconciliation's fourth side: a file is
kept whole or not at all; the same file, or a statement overlapping one already loaded,
never holds a line twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from penaltypay.reconciliation.models import BankStatement, BankStatementLine
from penaltypay.reconciliation.rules import BankLine
from penaltypay.reconciliation.statement import parse_statement


@dataclass(frozen=True)
class Loaded:
    statement: BankStatement
    already_loaded: bool  # the very same file was loaded before: nothing changed


def load_statement(data: bytes, *, file_name: str, by: str) -> Loaded:
    """Raises StatementRefused (with the line number) and keeps nothing when a line is bad."""
    parsed = parse_statement(data)
    existing = BankStatement.objects.filter(sha256=parsed.sha256).first()
    if existing is not None:
        return Loaded(existing, already_loaded=True)
    try:
        with transaction.atomic():
            known = set(
                BankStatementLine.objects.filter(line_key__in=[line.key for line in parsed.lines]).values_list(
                    "line_key", flat=True
                )
            )
            fresh = [line for line in parsed.lines if line.key not in known]
            statement = BankStatement.objects.create(
                sha256=parsed.sha256,
                file_name=file_name[:200],
                first_day=parsed.first_day,
                last_day=parsed.last_day,
                lines=len(parsed.lines),
                new_lines=len(fresh),
                loaded_at=timezone.now(),
                loaded_by=by[:150],
            )
            BankStatementLine.objects.bulk_create(
                BankStatementLine(
                    line_key=line.key,
                    statement=statement,
                    day=line.day,
                    description=line.description,
                    amount_pence=line.amount_pence,
                )
                for line in fresh
            )
    except IntegrityError:
        # Someone loaded the same file (or the same lines) at this very moment: theirs stands.
        return load_statement(data, file_name=file_name, by=by)
    return Loaded(statement, already_loaded=False)


def covered(day: date) -> bool:
    """Whether a loaded statement covers the day (so a payout missing from it is missing)."""
    return BankStatement.objects.filter(first_day__lte=day, last_day__gte=day).exists()


def lines_on(day: date) -> list[BankLine]:
    return [
        BankLine(f"bank-{line.line_key[:16]}", line.description, line.amount_pence)
        for line in BankStatementLine.objects.filter(day=day).order_by("id")
    ]
