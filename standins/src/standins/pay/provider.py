"""The sandbox provider's state and its life cycle; the operations are mixed in from api,
card_page, controls and webhooks."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import tempfile
import threading
import uuid
from collections import deque
from datetime import date, datetime, timedelta
from pathlib import Path

from standins.httpbase import StandinServer, serve_in_thread
from standins.pay.api import PaymentApi
from standins.pay.card_page import CardPages
from standins.pay.cards import CardOutcome
from standins.pay.controls import Controls
from standins.pay.disputes import Disputes
from standins.pay.model import (
    DELIVERY_LOG_SIZE,
    FAILURE_MESSAGES,
    PAID_OUTCOMES,
    ApiError,
    Payment,
    SandboxStateError,
    refuse_constant,
    utcnow,
)
from standins.pay.representation import state_json
from standins.pay.server import make_server
from standins.pay.settlement import Settlement, settlement_day
from standins.pay.state_file import (
    STATE_FORMAT,
    STATE_VERSION,
    StateLock,
    payment_to_state,
    state_from_document,
    time_to_state,
)
from standins.pay.validation import CONFIG_SPEC, validated_config
from standins.pay.webhooks import Delivery, WebhookDispatcher, WebhookEmitter

log = logging.getLogger("standins.pay")


# --- the provider ----------------------------------------------------------


class SandboxProvider(PaymentApi, CardPages, Controls, WebhookEmitter, Disputes, Settlement):
    """The sandbox's state and operations, plus the HTTP server around them.

    Settings are the keys of `CONFIG_SPEC`; keyword arguments given here are
    the values `reset()` returns to (so a standalone sandbox started with a
    webhook URL keeps it across resets).

    `state_file` (a path; None or "" for none, the default) makes payments durable:
    they are loaded from it here — a missing file means no payments yet, an
    unreadable or corrupt one raises SandboxStateError — and it is rewritten
    atomically after every change to them (including `reset()`, which empties it).
    It is not a setting: the control API cannot change it.
    """

    def __init__(self, *, clock=None, state_file=None, **settings):
        self._clock = clock or utcnow
        self._initial = {name: spec[0] for name, spec in CONFIG_SPEC.items()}
        self._initial.update(validated_config(settings))
        self.state_file: Path | None = Path(state_file) if state_file else None
        self._dirty = False  # payments changed since the state file was last written
        self._lock = StateLock(self._save_if_dirty)
        self._server: StandinServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake_sweeper = threading.Event()
        self._dispatcher = WebhookDispatcher(self)
        self._next_seq = 1
        self._generation = 0
        self.base_url: str | None = None
        self._card_server: StandinServer | None = None
        self.card_base_url: str | None = None  # set when the card page has its own port
        self._reset_state()
        if self.state_file is not None:
            self._load_state()

    # -- lifecycle --

    def start(self, host: str = "127.0.0.1", port: int = 0, *, card_port: int | None = None) -> str:
        """Serve on a daemon thread; returns the base URL (port 0 picks a free port).
        With `card_port`, the card page is served on a second port of its own (and only
        there), as a real provider serves it from another host than its API."""
        if self._server is not None:
            raise RuntimeError("sandbox provider already started")
        self._server = make_server(host, port, self)
        bound_port = self._server.server_address[1]
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else ("[::1]" if host == "::" else host)  # noqa: S104
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        self.base_url = f"http://{shown}:{bound_port}"
        if card_port is not None:
            self._card_server = make_server(host, card_port, self, card_only=True)
            self.card_base_url = f"http://{shown}:{self._card_server.server_address[1]}"
            serve_in_thread(self._card_server, "sandbox-pay-card-page")
        self._stop.clear()
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-pay-http", daemon=True
            ),
            threading.Thread(target=self._sweep_forever, name="sandbox-pay-expiry", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._dispatcher.start()
        log.info("sandbox payment provider listening", extra={"url": self.base_url})
        return self.base_url

    def stop(self) -> None:
        self._stop.set()
        self._wake_sweeper.set()
        self._dispatcher.stop()
        for server in (self._server, self._card_server):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._server = self._card_server = None
        self.card_base_url = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def reset(self) -> None:
        """Forget every payment, delivery and fault; settings back to the initial ones."""
        with self._lock:
            self._reset_state()
            self._dispatcher.clear()
            self._dirty = True

    # -- the state file --

    def _refuse(self, reason: str) -> SandboxStateError:
        message = (
            f"sandbox provider state file {self.state_file} is unusable: {reason}. Refusing to start rather than "
            "forget payments; repair or move the file (a missing file starts empty), or run without a state file."
        )
        log.error(message)
        return SandboxStateError(message)

    def _load_state(self) -> None:
        path = self.state_file
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            log.info("no sandbox provider state file at %s yet: starting with no payments", path)
            text = None
        except (OSError, UnicodeDecodeError) as exc:
            raise self._refuse(f"cannot read it ({exc})") from exc
        if text is not None:
            try:
                payments, next_seq = state_from_document(json.loads(text, parse_constant=refuse_constant))
            except ValueError as exc:  # json.JSONDecodeError included
                raise self._refuse(f"corrupt ({exc})") from exc
            self._payments, self._next_seq = payments, next_seq
            log.info("sandbox provider loaded %d payment(s) from %s", len(payments), path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._dirty = True  # write it now: an unwritable place fails here, not on the first payment
        except (OSError, SandboxStateError) as exc:
            cause = exc.__cause__ if isinstance(exc, SandboxStateError) and exc.__cause__ else exc
            raise self._refuse(f"cannot write it ({cause})") from exc

    def _save_if_dirty(self) -> None:
        # Called by the lock as its outermost holder lets go, so still under the lock.
        if not self._dirty:
            return
        if self.state_file is None:
            self._dirty = False
            return
        document = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "saved_at": time_to_state(self._now()),
            "next_seq": self._next_seq,
            "payments": [payment_to_state(p) for p in sorted(self._payments.values(), key=lambda p: p.seq)],
        }
        data = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
        path = self.state_file
        try:
            # mkstemp: a new file only this user can read (it holds payers' emails).
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            with contextlib.suppress(OSError, AttributeError):  # make the rename itself durable (POSIX)
                directory = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        except OSError as exc:
            # Still dirty: the next change tries again, with everything.
            log.error("could not write the sandbox provider state file %s: %s", path, exc)
            raise SandboxStateError(f"could not write the sandbox provider state file {path}: {exc}") from exc
        self._dirty = False

    def _reset_state(self) -> None:
        self._config = {k: (list(v) if isinstance(v, list) else v) for k, v in self._initial.items()}
        self._payments: dict[str, Payment] = {}
        self._tokens: dict[str, str] = {}  # live card-page token -> payment id
        self._deliveries: deque = deque(maxlen=DELIVERY_LOG_SIZE)
        self._held: list[Delivery] = []
        self._reorder_left = self._reorder_count(self._config["webhook_reorder"])
        self._posts: dict[str, deque] = {}
        # Deliveries already on the wire when a reset happens must not reappear afterwards.
        self._generation += 1

    def configure(self, **changes) -> dict:
        """Change settings (see `CONFIG_SPEC`); returns them all. ValueError on a bad one."""
        checked = validated_config(changes)
        with self._lock:
            self._config.update(checked)
            if "sweep_interval" in checked or "expiry_seconds" in checked:
                self._wake_sweeper.set()
            if "webhook_reorder" in checked:
                self._reorder_left = self._reorder_count(checked["webhook_reorder"])
                if not self._reorder_left:
                    self._release_held()
            return self.settings()

    @staticmethod
    def _reorder_count(setting) -> int:
        # -1: hold every message until reordering is switched off; N: hold the next N.
        return -1 if setting is True else int(setting)

    def settings(self) -> dict:
        with self._lock:
            return json.loads(json.dumps(self._config))

    def _setting(self, name: str):
        with self._lock:
            return self._config[name]

    def _take(self, name: str) -> bool:
        """Consume one use of a flag-or-count fault; True when it applies now."""
        value = self._config[name]
        if value is True:
            return True
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            self._config[name] = value - 1
            return True
        return False

    def _now(self) -> datetime:
        return self._clock()

    def _today(self) -> date:
        """The settlement calendar's today (Europe/London: what has settled by now)."""
        return settlement_day(self._now())

    # -- payments --

    def _get(self, payment_id: str, not_found_code: str = "P0200") -> Payment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise ApiError(404, not_found_code, "Not found")
        self._expire_if_due(payment)
        self._advance_disputes(payment)
        return payment

    def _expire_if_due(self, payment: Payment) -> None:
        if payment.finished:
            return
        deadline = payment.created_at + timedelta(seconds=self._config["expiry_seconds"])
        if self._now() >= deadline:
            self._finish(payment, "failed", "P0020")

    def _record_event(self, payment: Payment) -> None:
        # Every change of a payment's state comes through here: it marks the state file stale.
        payment.events.append((state_json(payment), self._now()))
        self._dirty = True

    def _move(self, payment: Payment, status: str) -> None:
        payment.status = status
        self._record_event(payment)

    def _issue_token(self, payment: Payment) -> str:
        if payment.issued_token:
            self._tokens.pop(payment.issued_token, None)
        token = secrets.token_urlsafe(24)
        payment.issued_token = token
        self._tokens[token] = payment.payment_id
        return token

    def _open_page(self, payment: Payment, token: str) -> None:
        """Bind a freshly issued link to the payer's page (single use: it cannot be opened again)."""
        if payment.page_token and payment.page_token != token:
            self._tokens.pop(payment.page_token, None)
        payment.page_token = token
        payment.issued_token = None
        if payment.status == "created":
            self._move(payment, "started")

    def _finish(self, payment: Payment, status: str, code: str | None = None, card: CardOutcome | None = None):
        payment.status = status
        payment.code = code
        payment.message = FAILURE_MESSAGES.get(code) if code else None
        if status == "success" and card is not None:
            payment.provider_id = str(uuid.uuid4())
            payment.card_details = {
                "card_brand": card.brand,
                "card_type": card.card_type,
                "last_digits_card_number": card.last_four,
                "expiry_date": card.expiry,
                "cardholder_name": card.cardholder_name,
            }
            if card.wallet_type:
                payment.card_details["wallet_type"] = card.wallet_type
            payment.captured_at = self._now()
            self._settle_payment(payment)
        for token in (payment.issued_token, payment.page_token):
            if token:
                self._tokens.pop(token, None)
        payment.issued_token = payment.page_token = None
        self._record_event(payment)
        if status == "success":
            self._emit_webhook(payment, "card_payment_succeeded")
        elif status == "failed" and code == "P0020":
            self._emit_webhook(payment, "card_payment_expired")
        elif status in ("failed", "error"):
            self._emit_webhook(payment, "card_payment_failed")
        # A cancel by the service itself (P0040) sends nothing: the service asked for it.

    def _authorise(self, payment: Payment, card: CardOutcome, *, challenge_passed: bool | None = None) -> bool:
        """False: the card needs 3-D Secure and the payer must answer the challenge first."""
        if payment.status == "created":
            self._move(payment, "started")
        if payment.status != "submitted":
            self._move(payment, "submitted")
        if card.outcome == "3ds" and not payment.moto:
            payment.three_d_secure_required = True
            if challenge_passed is None:
                payment.challenge = card
                return False
            payment.challenge = None
            if challenge_passed:
                self._finish(payment, "success", card=card)
            else:
                self._finish(payment, "failed", "P0010")  # authentication failed: the card is refused
            return True
        if card.outcome in PAID_OUTCOMES or card.outcome == "3ds":  # a MOTO payment never meets a challenge
            if card.outcome.startswith("dispute_"):
                payment.dispute_plan = card.outcome.removeprefix("dispute_")
            self._finish(payment, "success", card=card)
        elif card.outcome == "provider_error":
            self._finish(payment, "error", "P0050")
        else:
            self._finish(payment, "failed", "P0010")
        return True
