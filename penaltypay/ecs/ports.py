"""What penaltypay needs from ECS to record money, as an interface the rest of the code
depends on. The SOAP adapter (`penaltypay.adapters.ecs_soap`) implements it; every
failure it reports is one of `penaltypay.ecs.errors`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from penaltypay.kernel.wiring import Wire


@dataclass(frozen=True)
class LedgerEntry:
    """One payment or refund in a case's ECS ledger."""

    receipt_number: str
    kind: str  # "PAYMENT" or "REFUND"
    payment_reference: str
    refund_reference: str | None  # None for payments
    amount_pence: int
    effective_at: datetime  # when the money moved (PaidAt / RefundedAt), tz-aware
    channel: str  # ONLINE | PHONE | POST
    recorded_at: datetime  # when ECS wrote the line, tz-aware


@dataclass(frozen=True)
class WriteReceipt:
    """ECS's answer to RecordPayment / RecordRefund."""

    receipt_number: str
    case_status: str  # the case's status after the write


class EcsLedger(Protocol):
    """The ledger operations. Writes are NOT idempotent at ECS: after an error whose
    `outcome_known` is False, read the ledger before writing again."""

    def get_case_ledger(self, reference: str) -> list[LedgerEntry]: ...

    def record_payment(
        self,
        reference: str,
        payment_reference: str,
        amount_pence: int,
        paid_at: datetime,
        channel: str,
        psp_reference: str,
    ) -> WriteReceipt: ...

    def record_refund(
        self, reference: str, payment_reference: str, refund_reference: str, amount_pence: int, refunded_at: datetime
    ) -> WriteReceipt: ...

    def close(self) -> None: ...


# ECS with the worker's longer timeout, as the worker's jobs look it up (wired in
# penaltypay.operations.apps).
ecs_for_delivery: Wire[EcsLedger] = Wire("ECS for delivery")
