"""A disputed payment's evidence pack, for finance to attach to the provider's dispute form."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from penaltypay.payments import records
from penaltypay.staff.evidence import evidence_pack
from penaltypay.staff.pages import audit, not_found
from penaltypay.staff.roles import FINANCE, requires


@requires(read=FINANCE)
@require_GET
def dispute_evidence(request: HttpRequest, dispute_id: str) -> HttpResponse:
    dispute = records.dispute(dispute_id)
    if dispute is None:
        return not_found(request, "There is no dispute with that ID.")
    audit(
        request,
        "download-dispute-evidence",
        object_type="payment",
        object_id=dispute.payment.reference,
        detail=f"dispute {dispute.provider_dispute_id}",
    )
    response = HttpResponse(evidence_pack(dispute), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="evidence-{dispute.provider_dispute_id}.txt"'
    response["Cache-Control"] = "no-store"  # personal data: never kept by a browser or proxy
    return response
