"""The evidence pack for a disputed payment: what finance attaches to the provider's dispute
form to show the payer owed the money and chose to pay it. Plain text, so that it can be
read, printed or pasted anywhere; built only from what penaltypay holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from penaltypay.cases.store import case_records
from penaltypay.kernel.money import format_pence
from penaltypay.payments import records
from penaltypay.payments.domain import CHANNEL_ONLINE, CHANNEL_PHONE

if TYPE_CHECKING:
    from penaltypay.payments.models import Dispute
from penaltypay.staff.timeline import timeline
from penaltypay.web.formats import long_date, long_date_time

CHANNELS = {
    CHANNEL_ONLINE: "online, by the keeper on the service's own pages",
    CHANNEL_PHONE: "by telephone, card details keyed by a contact centre agent (MOTO)",
}


THREE_D_SECURE: dict[bool | None, str] = {
    True: "the card's bank asked for it, and the payer passed it",
    False: "not asked for by the bank",
    None: "not known",
}


def _section(title: str, rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(name) for name, _ in rows)
    return [title, "-" * len(title), *(f"{name.ljust(width)}  {value}" for name, value in rows), ""]


def evidence_pack(dispute: Dispute) -> str:
    payment = dispute.payment
    paid = list(payment.lines.order_by("position"))
    cases = {case.reference: case for case in case_records(p.case_reference for p in paid)}
    what = f"penalty {paid[0].case_reference}" if len(paid) == 1 else f"{len(paid)} penalties"
    lines = [
        f"Evidence for dispute {dispute.provider_dispute_id}",
        f"Payment {payment.reference}: {format_pence(payment.amount_pence)} for {what}",
        "",
    ]
    lines += _section(
        "The dispute",
        [
            ("Dispute ID", dispute.provider_dispute_id),
            ("Provider payment ID", payment.provider_payment_id),
            ("Amount disputed", format_pence(dispute.amount_pence)),
            ("Reason given", dispute.reason.replace("_", " ") or "not given"),
            ("Raised", long_date_time(dispute.raised_at)),
            ("Evidence due", long_date_time(dispute.evidence_due_at) if dispute.evidence_due_at else "not given"),
        ],
    )
    for n, line in enumerate(paid, start=1):
        case = cases.get(line.case_reference)
        lines += _section(
            "What was owed" if len(paid) == 1 else f"What was owed: penalty {n} of {len(paid)}",
            [
                ("Penalty reference", line.case_reference),
                ("Penalty type", line.case_type),
                ("Amount paid for it", format_pence(line.amount_pence)),
                ("Vehicle registration", case.vrm if case else line.vrm or "not held"),
                ("Vehicle", f"{case.vehicle_colour} {case.vehicle_make}".strip() or "not held" if case else "not held"),
                ("Penalty issued", long_date(case.issue_date) if case and case.issue_date else "not held"),
            ],
        )
    lines += _section("Payment description", [("Description", payment.description)])
    link = records.link_of(payment)
    found = (
        f"from a payment link sent by the agency on {long_date_time(link.sent_at)}, opened only after the "
        "vehicle registration was confirmed"
        if link is not None
        else "by typing both the penalty reference and the vehicle registration (one alone finds nothing)"
    )
    lines += _section(
        "How it was paid",
        [
            ("Channel", CHANNELS.get(payment.channel, payment.channel.lower())),
            ("Penalty found", found if payment.channel == CHANNEL_ONLINE else "by the agent, on the call"),
            ("Taken by", payment.created_by or "the payer themselves"),
            (
                "Card",
                f"{payment.card_brand} ending {payment.card_last_four}" if payment.card_last_four else "not known",
            ),
            ("Digital wallet", payment.wallet_type or "none"),
            ("3-D Secure", THREE_D_SECURE[payment.three_d_secure_required]),
            ("Provider's reference", payment.psp_reference or "not known"),
            ("Paid at", long_date_time(payment.authorised_at) if payment.authorised_at else "not known"),
            (
                "Receipt",
                f"emailed to {payment.email or 'the payer (the address is no longer kept)'} "
                f"on {long_date_time(payment.receipt_sent_at)}"
                if payment.receipt_sent_at
                else "no receipt email sent",
            ),
            (
                "Recorded against the penalty",
                long_date_time(payment.ecs_recorded_at) if payment.ecs_recorded_at else "not yet",
            ),
        ],
    )
    lines += ["Timeline", "--------"]
    lines += [f"{long_date_time(entry.at)}  {entry.what} ({entry.by})" for entry in timeline(payment)]
    lines.append("")
    return "\n".join(lines)
