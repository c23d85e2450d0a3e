"""What the pages tell the reports as they go."""

from __future__ import annotations

from penaltypay.reporting.models import Feedback, Lookup


def note_lookup(case_reference: str, *, payable: bool) -> None:
    """A keeper found a case (the completion rate counts the payable ones)."""
    Lookup.objects.create(case_reference=case_reference, payable=payable)


def give_feedback(rating: int, comments: str, source: str) -> Feedback:
    return Feedback.objects.create(rating=rating, comments=comments.strip()[:1200], source=source[:20])
