"""Health checks for load balancers and operators. No personal data, no secrets."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from penaltypay.operations.auth import operator_allowed
from penaltypay.operations.metrics import CONTENT_TYPE, render_metrics
from penaltypay.operations.release import expected_schema, release_name


@require_GET
def liveness(request):
    """Alive, and which release and schema this pod runs (a rollout shows both side by side)."""
    return JsonResponse({"status": "ok", "release": release_name(), "schema": expected_schema()})


@require_GET
def readiness(request):
    """Ready when our own database answers. ECS and the provider being down does not
    make us unready: keepers can still pay while ECS is away (docs/adr/0004). Not ready
    once the pod is draining for a stop, so that no new keeper is sent here (ADR 0029)."""
    if settings.DRAIN_FILE.exists():
        return JsonResponse({"status": "draining"}, status=503)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "up"})


@require_GET
def metrics(request):
    if not operator_allowed(request):
        return HttpResponse("operator token required\n", status=403, content_type="text/plain")
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE)
