"""What the reminders need from outside: a way to email the keeper."""

from __future__ import annotations

from typing import Any, Protocol


class ReminderSender(Protocol):
    """Email (and, where the reminder has a mobile number, a text message as well)."""

    def send_reminder_confirmation(self, reminder: Any, stop_url: str) -> None: ...

    def send_reminder(self, reminder: Any, amount_pence: int, start_url: str, stop_url: str) -> None: ...
