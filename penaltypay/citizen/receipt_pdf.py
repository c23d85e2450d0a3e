"""The receipt as a PDF to keep (issue 35, ADR 0030): rendered from an HTML template by
WeasyPrint, tagged (PDF/UA-1: structure, the document's language and title, real text), in
the keeper's language. No personal data beyond what the receipt email already holds."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone, translation
from weasyprint import HTML

from penaltypay.cases.domain import CASE_TYPE_NAMES
from penaltypay.web.formats import long_date_time


def receipt_pdf(payment: Any, language: str) -> bytes:
    with translation.override(language):
        html = render_to_string(
            "citizen/receipt_pdf.html",
            {
                "payment": payment,
                "lines": [
                    {"line": line, "type_name": CASE_TYPE_NAMES.get(line.case_type, "penalty")}
                    for line in payment.lines.all()
                ],
                "paid_at": long_date_time(payment.authorised_at or payment.finished_at or timezone.now()),
                "language": language,
            },
        )
    return HTML(string=html).write_pdf(pdf_variant="pdf/ua-1", pdf_tags=True)


def filename(payment: Any) -> str:
    return f"receipt-{payment.reference}.pdf"
