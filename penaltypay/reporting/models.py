"""What the KPIs need that no other record holds: which look-ups found a case a keeper
could pay, and what keepers said about the service. No personal data: a look-up keeps the
penalty reference (to see whether it was paid) and the time; feedback asks for none."""

from __future__ import annotations

from django.db import models


class Lookup(models.Model):
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    case_reference = models.CharField(max_length=8)
    payable = models.BooleanField()

    class Meta:
        db_table = "reporting_lookup"

    def __str__(self) -> str:
        return f"look-up {self.case_reference} at {self.at:%Y-%m-%d %H:%M}"


class Feedback(models.Model):
    RATINGS = {
        5: "Very satisfied",
        4: "Satisfied",
        3: "Neither satisfied nor dissatisfied",
        2: "Dissatisfied",
        1: "Very dissatisfied",
    }

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    rating = models.PositiveSmallIntegerField(choices=sorted(RATINGS.items()))
    comments = models.TextField(max_length=1200, blank=True)
    source = models.CharField(max_length=20, blank=True)  # where the link was: confirmation | banner

    class Meta:
        db_table = "reporting_feedback"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"feedback {self.rating} at {self.at:%Y-%m-%d %H:%M}"
