"""What the exceptions app needs from outside: a way to email the service team."""

from __future__ import annotations

from typing import Protocol


class TeamEmail(Protocol):
    """Sends one email to the team; raises on failure (it is retried next round)."""

    def send(self, subject: str, body: str, to: str) -> None: ...
