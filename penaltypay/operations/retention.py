"""Personal data kept only as long as it is needed (UK GDPR storage limitation).

Each kind below says what is removed and when; `purge` applies them a batch at a time,
each batch in its own short transaction, so nothing is locked for long and a run that is
stopped simply continues next time (the same rules find what is left). Money records are
never deleted: their personal fields are blanked or replaced by a keyed hash, so
reconciliation and the audit trail still add up. The periods are settings
(`RETENTION_*`), shown to keepers in the privacy notice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import models, transaction
from django.utils import timezone

from penaltypay.audit.models import AuditEntry
from penaltypay.audit.policy import HASHED
from penaltypay.cases.domain import COURT, DEBT_RECOVERY, NO_PAYMENT_REQUIRED, PAID
from penaltypay.cases.store import closed_cases_refreshed_before
from penaltypay.operations.models import PurgeRun
from penaltypay.payments import personal_data
from penaltypay.reminders import service as reminders
from penaltypay.reporting.models import Feedback

BATCH = 500
CLOSED_CASE_STATUSES = (PAID, NO_PAYMENT_REQUIRED, COURT, DEBT_RECOVERY)


@dataclass(frozen=True)
class Kind:
    name: str
    what: str
    candidates: Callable[[datetime], models.QuerySet]
    # Given a batch of primary keys; none: the rows are deleted.
    apply: Callable[[list], None] | None = None


def _days(name: str) -> timedelta:
    return timedelta(days=getattr(settings, name))


def _settled_payments(now: datetime) -> models.QuerySet:
    return personal_data.settled_payments_finished_before(now - _days("RETENTION_RECEIPT_EMAIL_DAYS"))


def _old_webhooks(now: datetime) -> models.QuerySet:
    return personal_data.webhook_messages_before(now - _days("RETENTION_WEBHOOK_DAYS"))


def _closed_cases(now: datetime) -> models.QuerySet:
    return closed_cases_refreshed_before(CLOSED_CASE_STATUSES, now - _days("RETENTION_CLOSED_CASE_DAYS"))


def _expired_sessions(now: datetime) -> models.QuerySet:
    return Session.objects.filter(expire_date__lt=now)


def _old_feedback(now: datetime) -> models.QuerySet:
    return Feedback.objects.filter(at__lt=now - _days("RETENTION_FEEDBACK_DAYS")).exclude(comments="")


def _blank_feedback(pks: list) -> None:
    Feedback.objects.filter(pk__in=pks).update(comments="")  # the rating still counts


def _old_audit_addresses(now: datetime) -> models.QuerySet:
    # The database's own clock decides what is old enough (it refuses anything younger),
    # so a purge "as of" a later moment cannot hash an address early.
    oldest = min(now, timezone.now()) - max(_days("RETENTION_AUDIT_ADDRESS_DAYS"), timedelta(days=1))
    return AuditEntry.objects.filter(at__lt=oldest).exclude(address="").exclude(address__startswith=HASHED)


def _hash_audit_addresses(pks: list) -> None:
    for pk in pks:
        AuditEntry.pseudonymise_address(pk)  # the database checks the age and the hash itself


def _old_payment_links(now: datetime) -> models.QuerySet:
    return personal_data.payment_links_expired_before(now - _days("RETENTION_PAYMENT_LINK_DAYS"))


def _old_idempotency_keys(now: datetime) -> models.QuerySet:
    record = apps.get_model("api", "IdempotencyRecord")
    return record.objects.filter(created_at__lt=now - _days("RETENTION_IDEMPOTENCY_DAYS"))


def _past_reminders(now: datetime) -> models.QuerySet:
    return reminders.past_their_deadline(now)


KINDS = [
    Kind(
        "receipt_emails",
        "receipt email addresses (and the vehicle in the description)",
        _settled_payments,
        personal_data.blank_payments,
    ),
    Kind("webhook_messages", "records of the provider's webhook messages", _old_webhooks),
    Kind("closed_cases", "local copies of closed cases", _closed_cases),
    Kind("sessions", "expired keeper and staff sessions", _expired_sessions),
    Kind("feedback_comments", "feedback comments (ratings are kept)", _old_feedback, _blank_feedback),
    Kind(
        "audit_addresses",
        "client addresses in the audit log (replaced by a keyed hash)",
        _old_audit_addresses,
        _hash_audit_addresses,
    ),
    Kind("idempotency_keys", "API idempotency keys", _old_idempotency_keys),
    Kind(
        "payment_link_addresses",
        "where payment links were sent (email address, mobile number)",
        _old_payment_links,
        personal_data.blank_payment_links,
    ),
    Kind("reminders", "reminders (email address) once the reduced amount's last day has passed", _past_reminders),
]


@dataclass
class PurgeResult:
    dry_run: bool
    removed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "removed": self.removed,
            "seconds": round(self.seconds, 3),
            # Rate-limit counters are cache keys that expire with their window: nothing to purge.
            "expire_by_themselves": ["rate-limit counters"],
        }


def purge_and_record(trigger: str, now: datetime | None = None) -> PurgeResult:
    """Purge, keeping a record of the run (what was removed, per kind). The record is
    stamped by the same clock that decided the run, so "already ran tonight" compares
    like with like (a caller's clock and the machine's may differ)."""
    moment = now or timezone.now()
    run = PurgeRun.objects.create(started_at=moment, trigger=trigger)
    result = purge(now=moment)
    finished = moment + timedelta(seconds=result.seconds)
    PurgeRun.objects.filter(pk=run.pk).update(finished_at=finished, removed=result.removed)
    return result


def purge(*, dry_run: bool = False, now: datetime | None = None, batch: int = BATCH) -> PurgeResult:
    started = time.monotonic()
    moment = now or timezone.now()
    result = PurgeResult(dry_run=dry_run)
    for kind in KINDS:
        if dry_run:
            result.removed[kind.name] = kind.candidates(moment).count()
            continue
        done = 0
        while True:
            pks = list(kind.candidates(moment).order_by("pk").values_list("pk", flat=True)[:batch])
            if not pks:
                break
            with transaction.atomic():
                if kind.apply is None:
                    kind.candidates(moment).model.objects.filter(pk__in=pks).delete()
                else:
                    kind.apply(pks)
            done += len(pks)
        result.removed[kind.name] = done
    result.seconds = time.monotonic() - started
    return result
