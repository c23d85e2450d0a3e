"""The receipt PDF (issue 35, ADR 0030): from the confirmation page, for the browser that was
shown it (a signed cookie, for half an hour), and from the signed link in the receipt email
for LINK_DAYS. Anyone else, or any other payment, gets "page not found"."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from penaltypay.citizen.receipt_pdf import filename, receipt_pdf
from penaltypay.payments.receipt_links import paid_payment, payment_of_link

COOKIE = "receipt"
_SALT = "penaltypay.citizen.receipt"
MINUTES = 30  # as long as an idle session lasts: then the next user of this browser cannot
KEPT = 5  # the most recent payments this browser may download receipts for


def allow_receipt(request: HttpRequest, response: HttpResponse, payment) -> HttpResponse:
    """After the confirmation has ended the session, this browser alone may download the
    receipt for MINUTES: a signed cookie, sent only to the receipt's address. Nothing is kept
    on our side, and no database is asked."""
    payments = [p for p in _allowed(request) if p != str(payment.id)][-(KEPT - 1) :] + [str(payment.id)]
    response.set_signed_cookie(
        COOKIE,
        ",".join(payments),
        salt=_SALT,
        max_age=MINUTES * 60,
        path="/pay/receipt/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def _allowed(request: HttpRequest) -> list[str]:
    value = request.get_signed_cookie(COOKIE, default="", salt=_SALT, max_age=MINUTES * 60) or ""
    return [p for p in value.split(",") if p]


@require_GET
def receipt_for_this_browser(request: HttpRequest, payment_id: str) -> HttpResponse:
    if payment_id not in _allowed(request):
        raise Http404("no receipt for this browser")
    payment = paid_payment(payment_id)
    if payment is None:
        raise Http404("no such payment")
    return _pdf(payment, get_language())


@require_GET
def receipt_from_email(request: HttpRequest, token: str) -> HttpResponse:
    payment = payment_of_link(token)
    if payment is None:
        raise Http404("no such receipt link")
    return _pdf(payment, "cy" if payment.language == "cy" else "en")


def _pdf(payment, language: str) -> HttpResponse:
    response = HttpResponse(receipt_pdf(payment, language), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename(payment)}"'
    response["Cache-Control"] = "no-store, private"  # personal: never kept by a shared cache
    return response
