"""Build the ECS client from settings (the one place that reads ECS configuration)."""
from __future__ import annotations

from django.conf import settings

from penaltypay.ecs.client import EcsClient
from penaltypay.ecs.delivery import Policy


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


def delivery_policy() -> Policy:
    """The outbox worker's retry pacing and breaker, from settings."""
    return Policy(
        backoff_base_seconds=settings.ECS_BACKOFF_BASE_SECONDS,
        backoff_cap_seconds=settings.ECS_BACKOFF_CAP_SECONDS,
        breaker_failure_threshold=settings.ECS_BREAKER_FAILURE_THRESHOLD,
        breaker_min_open_seconds=settings.ECS_BREAKER_MIN_OPEN_SECONDS,
        breaker_max_open_seconds=settings.ECS_BREAKER_MAX_OPEN_SECONDS,
        unknown_outcome_settle_seconds=settings.ECS_UNKNOWN_OUTCOME_SETTLE_SECONDS,
    )
