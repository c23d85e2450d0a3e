"""Reminders before the reduced amount ends (issue 35): asking for one, stopping one, and
sending those due — each once. The address is personal data: it is never logged, and the
answer to "remind me" is the same whether or not the address was already asked for (a
stranger learns nothing); the confirmation email tells its owner how to stop."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from penaltypay import ratelimits
from penaltypay.cases.domain import Case
from penaltypay.cases.lookup import LookupOutcome, find_case
from penaltypay.cases.ports import CaseSource
from penaltypay.kernel.clock import london_date
from penaltypay.kernel.wiring import Wire
from penaltypay.payments.checkout import quote
from penaltypay.reminders import rules
from penaltypay.reminders.models import Reminder
from penaltypay.reminders.ports import ReminderSender

log = logging.getLogger("penaltypay.reminders")

# Wired to the adapter at start-up (penaltypay.wiring); a test may wire its own.
reminder_sender: Wire[ReminderSender] = Wire("reminder sender")

CLAIM = timedelta(minutes=10)  # a worker that claimed a reminder and died: another may take it after this
PER_ADDRESS_A_DAY = 10
PER_PENALTY_A_DAY = 5


def available() -> bool:
    """Reminders need their emails: with Notify, both templates (else they are not offered)."""
    return not settings.NOTIFY_API_KEY or bool(
        settings.NOTIFY_REMINDER_TEMPLATE_ID and settings.NOTIFY_REMINDER_CONFIRM_TEMPLATE_ID
    )


def offered(case: Case, at: datetime | None = None) -> bool:
    """A reminder is offered while the penalty can be paid and its reduced amount applies
    (asked for with less than REMINDER_DAYS_BEFORE days left, it goes on the worker's next pass)."""
    if not available():
        return False
    current = quote(case, at)
    return current.payable and current.due.reduced and case.reduction_deadline is not None


def texts_offered() -> bool:
    """A mobile number is asked for only where Notify can send the text message."""
    return bool(settings.NOTIFY_API_KEY and settings.NOTIFY_REMINDER_SMS_TEMPLATE_ID)


def ask(case: Case, email: str, language: str, address: str, mobile: str = "") -> None:
    """Set a reminder and send its confirmation (with the way to stop). Refused silently
    beyond the limits per address and per penalty, and when one is already set: the keeper
    is told the same either way."""
    if case.reduction_deadline is None:
        return
    day = int(timezone.now().timestamp()) // 86400
    by_address = ratelimits.count(f"reminders:address:{ratelimits.address_hash(email.lower())}:{day}", 86400)
    by_penalty = ratelimits.count(f"reminders:penalty:{case.reference}:{day}", 86400)
    if by_address > PER_ADDRESS_A_DAY or by_penalty > PER_PENALTY_A_DAY:
        log.info("reminder request over the limit", extra={"case_reference": case.reference})
        return
    try:
        with transaction.atomic():
            reminder = Reminder.objects.create(
                case_reference=case.reference,
                vrm=case.vrm,
                email=email,
                mobile=mobile if texts_offered() else "",
                language="cy" if language == "cy" else "en",
                reduction_deadline=case.reduction_deadline,
                send_on=rules.send_on(case.reduction_deadline, settings.REMINDER_DAYS_BEFORE),
                stop_token=secrets.token_urlsafe(32),
            )
    except IntegrityError:
        return  # already set for this address and penalty: nothing more, nothing said
    try:
        reminder_sender().send_reminder_confirmation(reminder, stop_url(reminder))
    except Exception as error:  # the reminder stands; the keeper can ask again
        log.warning("reminder confirmation failed", extra={"error": type(error).__name__})
        return
    Reminder.objects.filter(pk=reminder.pk).update(confirmation_sent_at=timezone.now())
    log.info("reminder set", extra={"case_reference": case.reference, "send_on": reminder.send_on.isoformat()})


def stop_url(reminder: Reminder) -> str:
    return f"{_origin()}/reminders/stop/{reminder.stop_token}"


def start_url() -> str:
    return f"{_origin()}/"


def _origin() -> str:
    return (settings.PUBLIC_BASE_URL or "http://127.0.0.1:8000").rstrip("/")


def stop_by_keeper(token: str) -> bool:
    """The email's link: True when the token names a reminder (stopped now or before)."""
    if not token or len(token) > 64:
        return False
    found = Reminder.objects.filter(stop_token=token).first()
    if found is None:
        return False
    Reminder.objects.filter(pk=found.pk, stopped_at__isnull=True).update(stopped_at=timezone.now(), stopped_by="keeper")
    return True


def live_for_case(reference: str) -> bool:
    return _live().filter(case_reference=reference).exists()


def stop_for_case(reference: str, by: str) -> int:
    """Staff: stop every live reminder on a penalty (the caller audits it)."""
    return _live().filter(case_reference=reference).update(stopped_at=timezone.now(), stopped_by=by)


def past_their_deadline(now: datetime):
    """Reminders (sent, stopped or not) whose last day of the reduced amount has passed
    (Europe/London): the retention purge deletes them with their address."""
    return Reminder.objects.filter(reduction_deadline__lt=london_date(now))


def _live():
    return Reminder.objects.filter(stopped_at__isnull=True, outcome="")


@dataclass
class Report:
    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failed: int = 0

    def as_dict(self) -> dict:
        return {"sent": self.sent, "skipped": dict(self.skipped), "failed": self.failed}


def send_due(source: CaseSource, now: datetime | None = None) -> Report:
    """Every reminder whose day has come (Europe/London), each claimed by one worker, the
    case read from ECS again first: a penalty paid, closed or no longer reduced gets none."""
    now = now or timezone.now()
    report = Report()
    due = _live().filter(send_on__lte=london_date(now), sending_at__isnull=True)
    for pk in list(due.filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM)).values_list("pk", flat=True)):
        claimed = (
            _live()
            .filter(pk=pk, sending_at__isnull=True)
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM))
            .update(claimed_at=now)
        )
        if claimed != 1:
            continue  # another worker has it
        _send_one(Reminder.objects.get(pk=pk), source, now, report)
    # A reminder whose sending was cut off (the worker died while handing it over): its
    # outcome is unknown, and a second email would be worse than none. Counted as failed.
    cut_off = _live().filter(sending_at__lt=now - CLAIM, sent_at__isnull=True)
    report.failed += cut_off.update(outcome="failed")
    return report


def _send_one(reminder: Reminder, source: CaseSource, now: datetime, report: Report) -> None:
    found = find_case(reminder.case_reference, reminder.vrm, source)
    if found.outcome in (LookupOutcome.NOT_FOUND, LookupOutcome.NOT_PAYABLE_HERE):
        verdict = rules.Verdict.CLOSED
    elif found.case is None:  # ECS cannot answer and we hold nothing: try on the next pass
        Reminder.objects.filter(pk=reminder.pk).update(claimed_at=None)
        report.failed += 1
        return
    else:
        current = quote(found.case, now)
        verdict = rules.verdict(current.reason, current.due)
    if verdict is not rules.Verdict.SEND:
        Reminder.objects.filter(pk=reminder.pk).update(outcome=verdict.value)
        report.skipped[verdict.value] = report.skipped.get(verdict.value, 0) + 1
        return
    Reminder.objects.filter(pk=reminder.pk).update(sending_at=timezone.now())
    try:
        reminder_sender().send_reminder(reminder, current.due.total_pence, start_url(), stop_url(reminder))
    except Exception as error:
        # Refused before it left (Notify answered with an error): safe to try again next pass.
        Reminder.objects.filter(pk=reminder.pk).update(sending_at=None, claimed_at=None)
        log.warning("reminder email failed", extra={"error": type(error).__name__})
        report.failed += 1
        return
    Reminder.objects.filter(pk=reminder.pk).update(sent_at=timezone.now(), outcome=rules.Verdict.SEND.value)
    report.sent += 1
