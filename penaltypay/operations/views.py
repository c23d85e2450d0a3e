"""Health checks for load balancers and operators. No personal data, no secrets."""
from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def liveness(request):
    return JsonResponse({"status": "ok"})


@require_GET
def readiness(request):
    """Ready when our own database answers. ECS and the provider being down does not
    make us unready: keepers can still pay while ECS is away (docs/adr/0004)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok", "database": "up"})


def _operator_allowed(request) -> bool:
    """Operator endpoints need OPS_API_TOKEN as a bearer token when it is set; in
    production they are closed until it is."""
    from django.conf import settings
    from django.utils.crypto import constant_time_compare

    token = settings.OPS_API_TOKEN
    if not token:
        return not settings.PRODUCTION
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return constant_time_compare(given, token)


@require_GET
def outbox_status(request):
    from penaltypay.ecs.outbox import backlog

    if not _operator_allowed(request):
        return JsonResponse({"detail": "operator token required"}, status=403)
    return JsonResponse(backlog().as_dict())


@require_GET
def metrics(request):
    from django.http import HttpResponse

    from penaltypay.operations.metrics import render_metrics

    if not _operator_allowed(request):
        return HttpResponse("operator token required\n", status=403, content_type="text/plain")
    return HttpResponse(render_metrics(), content_type="text/plain; version=0.0.4; charset=utf-8")
