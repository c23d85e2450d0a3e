"""Build the payment provider client from settings (the one place that reads its configuration)."""
from __future__ import annotations

from django.conf import settings

from penaltypay.payments.provider import PayClient


def pay_client() -> PayClient:
    return PayClient(settings.PAY_API_URL, settings.PAY_API_KEY, timeout=settings.PAY_TIMEOUT)
