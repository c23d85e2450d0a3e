"""Build the ECS client from settings (the one place that reads ECS configuration)."""
from __future__ import annotations

from django.conf import settings

from penaltypay.ecs.client import EcsClient


def ecs_client(timeout: float | None = None) -> EcsClient:
    return EcsClient(
        settings.ECS_URL,
        username=settings.ECS_USERNAME or None,
        password=settings.ECS_PASSWORD or None,
        timeout=timeout if timeout is not None else settings.ECS_LOOKUP_TIMEOUT,
    )


def ecs_writer_client() -> EcsClient:
    """For the outbox worker: a longer timeout than a keeper's look-up (ECS p99 is ~3 s)."""
    return ecs_client(timeout=settings.ECS_WRITE_TIMEOUT)
