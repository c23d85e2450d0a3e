from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from penaltypay.payments.gateway import pay_client
from penaltypay.payments.webhooks import handle_webhook

MAX_WEBHOOK_BYTES = 256 * 1024


@csrf_exempt  # authenticated by its HMAC signature instead
@require_POST
def provider_webhook(request):
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_WEBHOOK_BYTES:
        return JsonResponse({"detail": "body too large"}, status=413)
    result = handle_webhook(
        request.body, request.headers.get("Pay-Signature"), settings.PAY_WEBHOOK_SECRET, pay_client()
    )
    return JsonResponse({"detail": result.detail}, status=result.status)
