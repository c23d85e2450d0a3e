"""Build each adapter from settings: the one place that reads their configuration.
Called by the interfaces (views, commands, the worker), which pass the result in."""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.adapters.pay_api import PayClient
from penaltypay.adapters.pay_pacing import ProviderPacing
from penaltypay.exceptions.ports import TeamEmail
from penaltypay.kernel.bulkhead import Bulkhead
from penaltypay.payments.ports import ReceiptSender
from penaltypay.reminders.ports import ReminderSender

ADAPTERS = "penaltypay.adapters."


_LOOKUP_CLIENTS = threading.local()


def ecs_for_lookups() -> EcsClient:
    """For a keeper's page: a short timeout, then the local case store answers.

    One client per thread, kept while ECS's settings stay the same: a new one parsed the
    WSDL (about 2.6 ms of CPU) and opened a new connection for every look-up
    (bench/README.md). Per thread because requests does not promise that a
    Session is thread-safe (see the client's docstring)."""
    config = (settings.ECS_URL, settings.ECS_USERNAME, settings.ECS_PASSWORD, settings.ECS_LOOKUP_TIMEOUT)
    kept = getattr(_LOOKUP_CLIENTS, "kept", None)
    if kept is None or kept[0] != config:
        if kept is not None:
            kept[1].close()
        kept = (config, _ecs(settings.ECS_LOOKUP_TIMEOUT))
        _LOOKUP_CLIENTS.kept = kept
    return kept[1]


def ecs_for_delivery() -> EcsClient:
    """For the outbox worker: a longer timeout than a keeper's look-up (ECS p99 is ~3 s)."""
    return _ecs(settings.ECS_WRITE_TIMEOUT)


def _ecs(timeout: float) -> EcsClient:
    return EcsClient(
        settings.ECS_URL,
        username=settings.ECS_USERNAME or None,
        password=settings.ECS_PASSWORD or None,
        timeout=timeout,
    )


# Provider calls in flight from this process, at most (docs/adr/0010).
PROVIDER_CALLS = Bulkhead(
    "provider",
    lambda: settings.PAY_CONCURRENCY,
    wait=lambda: settings.PAY_WAIT_SECONDS,
    stuck_after=lambda: settings.PAY_STUCK_SECONDS,
)


def payment_provider() -> PayClient:
    return PayClient(
        settings.PAY_API_URL,
        settings.PAY_API_KEY,
        timeout=settings.PAY_TIMEOUT,
        bulkhead=PROVIDER_CALLS,
        pacing=ProviderPacing(
            settings.PAY_API_KEY, settings.PAY_RATE_LIMIT_PER_SECOND, settings.PAY_RATE_LIMIT_MAX_WAIT_SECONDS
        ),
        webhook_secrets=(settings.PAY_WEBHOOK_SECRET, settings.PAY_WEBHOOK_SECRET_PREVIOUS),
    )


def _named_adapter(setting: str) -> type:
    """An adapter class a setting names: only ever one of ours (a setting cannot wire in
    arbitrary code, nor a test double)."""
    path = getattr(settings, setting)
    if not path.startswith(ADAPTERS):
        raise ImproperlyConfigured(f"{setting} must name an adapter in penaltypay.adapters, not {path!r}")
    return import_string(path)


def receipt_sender() -> ReceiptSender:
    return _named_adapter("RECEIPT_SENDER")()


def reminder_sender() -> ReminderSender:
    """The receipts' sender (Notify or files) sends reminders too."""
    return _named_adapter("RECEIPT_SENDER")()


def team_email() -> TeamEmail:
    return _named_adapter("TEAM_EMAIL_SENDER")()


def staff_mail() -> TeamEmail:
    """Emails to a member of staff (the same shape as the team's email: subject, body, to)."""
    return _named_adapter("STAFF_MAIL_SENDER")()
