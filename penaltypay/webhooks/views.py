"""The payment provider's webhooks: an HTTP interface for a machine, authenticated by
its HMAC signature (so exempt from CSRF). The rules are in payments.webhooks."""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from penaltypay.payments.ports import payment_provider
from penaltypay.payments.webhooks import handle_webhook

MAX_WEBHOOK_BYTES = 256 * 1024


@csrf_exempt  # authenticated by its HMAC signature instead
@require_POST
def provider_webhook(request):
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = MAX_WEBHOOK_BYTES + 1
    if length > MAX_WEBHOOK_BYTES:
        return JsonResponse({"detail": "body too large"}, status=413)
    result = handle_webhook(request.body, request.headers.get("Pay-Signature"), payment_provider())
    return JsonResponse({"detail": result.detail}, status=result.status)
