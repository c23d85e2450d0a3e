"""Build each adapter from settings: the one place that reads their configuration.
Called by the interfaces (views, commands, the worker), which pass the result in."""

from __future__ import annotations

from django.conf import settings

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.adapters.pay_api import PayClient


def ecs_for_lookups() -> EcsClient:
    """For a keeper's page: a short timeout, then the local case store answers."""
    return _ecs(settings.ECS_LOOKUP_TIMEOUT)


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


def payment_provider() -> PayClient:
    return PayClient(
        settings.PAY_API_URL,
        settings.PAY_API_KEY,
        timeout=settings.PAY_TIMEOUT,
        webhook_secrets=(settings.PAY_WEBHOOK_SECRET, settings.PAY_WEBHOOK_SECRET_PREVIOUS),
    )
