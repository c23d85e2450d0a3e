"""A keeper paying over HTTP, as a browser without JavaScript would: find the penalty, give
an email address, pay on the sandbox's card page, come back to the confirmation. Told to
try again (503), the keeper waits and does; anything else 5xx is recorded as a failure."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin

import requests

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CARD_FORM = re.compile(r'<form method="post" action="([^"]+)" novalidate')
CONFIRMED = re.compile(r"<strong>(PP-[A-Z0-9]{4}-[A-Z0-9]{4})</strong>")
SUCCESS_CARD = "4444333322221111"


@dataclass
class Visit:
    statuses: list[int] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # "500 GET /pay" …
    told_to_wait: int = 0
    confirmed_reference: str = ""
    gave_up: str = ""


class Keeper:
    def __init__(self, base: str, reference: str, registration: str, *, address: str, timeout: float = 30):
        self.base, self.reference, self.registration = base, reference, registration
        self.session = requests.Session()
        self.session.headers["X-Forwarded-For"] = address
        self.timeout = timeout
        self.visit = Visit()

    def _record(self, response: requests.Response) -> None:
        for r in [*response.history, response]:
            self.visit.statuses.append(r.status_code)
            if r.status_code >= 500 and r.status_code != 503:
                self.visit.server_errors.append(f"{r.status_code} {r.request.method} {r.url}")

    def _try(self, send, *, attempts: int = 40, wait: float = 1.0) -> requests.Response | None:
        """One step, again after a 503 or a dropped connection, as a patient keeper would."""
        for _ in range(attempts):
            try:
                response = send()
            except requests.RequestException:
                time.sleep(wait)
                continue
            self._record(response)
            if response.status_code == 503:
                self.visit.told_to_wait += 1
                time.sleep(wait)
                continue
            return response
        return None

    def _form_token(self, path: str) -> str | None:
        page = self._try(lambda: self.session.get(self.base + path, timeout=self.timeout))
        match = CSRF.search(page.text) if page is not None else None
        return match.group(1) if match else None

    def pay(self, email: str = "keeper@example.com", card: str = SUCCESS_CARD) -> Visit:
        token = self._form_token("/find-your-penalty")
        if token is None:
            self.visit.gave_up = "find page"
            return self.visit
        form = {"csrfmiddlewaretoken": token, "reference": self.reference, "registration": self.registration}
        found = self._try(lambda: self.session.post(self.base + "/find-your-penalty", form, timeout=self.timeout))
        if found is None or not found.url.endswith("/your-penalty"):
            self.visit.gave_up = f"look-up ({found.status_code if found is not None else 'no answer'})"
            return self.visit
        token = self._form_token("/pay")
        if token is None:
            self.visit.gave_up = "pay page"
            return self.visit
        card_page = self._try(
            lambda: self.session.post(
                self.base + "/pay", {"csrfmiddlewaretoken": token, "email": email}, timeout=self.timeout
            )
        )
        action = CARD_FORM.search(card_page.text) if card_page is not None else None
        if action is None:
            self.visit.gave_up = f"card page ({card_page.status_code if card_page is not None else 'no answer'})"
            return self.visit
        card = {
            "card_number": card,
            "expiry_month": "12",
            "expiry_year": str(datetime.now(UTC).year + 3),
            "cardholder_name": "Alex Keeper",
            "security_code": "123",
        }
        target = urljoin(card_page.url, action.group(1))
        back = self._try(lambda: self.session.post(target, card, timeout=self.timeout, allow_redirects=False))
        if back is None or back.status_code not in (302, 303):
            self.visit.gave_up = "card submission"
            return self.visit
        # Back to the service; a "try again" there is met by loading the same address again.
        return_url = urljoin(target, back.headers["Location"])
        done = self._try(lambda: self.session.get(return_url, timeout=self.timeout))
        if done is None:
            self.visit.gave_up = "return"
            return self.visit
        if "/pay/complete/" in done.url and (match := CONFIRMED.search(done.text)):
            self.visit.confirmed_reference = match.group(1)
        else:
            self.visit.gave_up = f"ended on {done.url} ({done.status_code})"
        return self.visit
