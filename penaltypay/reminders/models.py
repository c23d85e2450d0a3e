"""A keeper's reminder: personal data (an email address), kept only until the reduction
deadline has passed (the retention purge deletes it), never logged."""

from __future__ import annotations

from django.db import models


class Reminder(models.Model):
    case_reference = models.CharField(max_length=8, db_index=True)
    vrm = models.CharField(max_length=7)  # to read the case from ECS again before sending
    email = models.EmailField(max_length=254)
    mobile = models.CharField(max_length=13, blank=True)  # a UK mobile, +447…, when text messages are offered
    language = models.CharField(max_length=2, default="en")
    reduction_deadline = models.DateField()  # the last day of the reduced amount, as ECS said when asked
    send_on = models.DateField(db_index=True)  # REMINDER_DAYS_BEFORE days before it (Europe/London)
    stop_token = models.CharField(max_length=64, unique=True)  # the email's "stop reminders" link
    created_at = models.DateTimeField(auto_now_add=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    # Sending, once: claimed by one worker; `sending_at` set just before the email is handed
    # to Notify, so a worker killed after that is never followed by a second email.
    claimed_at = models.DateTimeField(null=True, blank=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, blank=True)  # sent | paid | closed | not-reduced | failed
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.CharField(max_length=150, blank=True)  # "keeper" or a staff username

    class Meta:
        db_table = "reminder"
        constraints = [
            # One live reminder per penalty and address: asking again changes nothing.
            models.UniqueConstraint(
                fields=["case_reference", "email"],
                condition=models.Q(stopped_at__isnull=True, outcome=""),
                name="one_live_reminder_per_case_and_address",
            )
        ]

    def __str__(self) -> str:  # never the address: it is personal data
        return f"reminder {self.pk} for {self.case_reference}"
