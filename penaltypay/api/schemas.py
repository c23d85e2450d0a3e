"""The API's request and response bodies (pydantic, via django-ninja): the OpenAPI document
is generated from these. Requests refuse unknown fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from ninja import Schema
from pydantic import ConfigDict, Field, model_validator


class Strict(Schema):
    model_config = ConfigDict(extra="forbid")


class LookupIn(Strict):
    reference: str = Field(min_length=1, max_length=50, description="The 8-digit penalty reference (spaces allowed)")
    registration: str = Field(min_length=1, max_length=50, description="The vehicle registration number")


class AmountDue(Schema):
    total_pence: int
    penalty_pence: int
    reduced: bool = Field(description="True while the reduced penalty applies")
    arrears_pence: int
    already_paid_pence: int


class CaseOut(Schema):
    reference: str
    case_type: str
    case_type_name: str
    registration: str
    vehicle_make: str
    vehicle_colour: str
    status: str
    reduction_deadline: date | None
    pay_by_date: date
    amount_due: AmountDue
    payable: bool
    not_payable_reason: str | None = Field(description="Why it cannot be paid now, when it cannot")


class CaseIn(Strict):
    reference: str = Field(min_length=1, max_length=50, description="The 8-digit penalty reference")
    registration: str = Field(min_length=1, max_length=50, description="The vehicle registration number")


class PaymentIn(Strict):
    """One penalty (`reference` and `registration`), or several in one payment (`cases`)."""

    reference: str | None = Field(default=None, min_length=1, max_length=50)
    registration: str | None = Field(default=None, min_length=1, max_length=50)
    cases: list[CaseIn] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Several penalties paid at once (instead of `reference` and `registration`): each is "
        "written to ECS against its own case, and refundable on its own",
    )
    your_reference: str | None = Field(
        default=None, max_length=50, description="The payer's own reference (a purchase order), on the receipt"
    )
    email: str | None = Field(default=None, max_length=254, description="For the receipt")
    return_url: str = Field(min_length=1, max_length=2000, description="Where the provider sends the payer back")
    language: Literal["en", "cy"] = "en"

    @model_validator(mode="after")
    def one_or_several(self) -> PaymentIn:
        single = self.reference is not None or self.registration is not None
        if self.cases is not None and single:
            raise ValueError("give either `reference` and `registration`, or `cases`, not both")
        if self.cases is None and (self.reference is None or self.registration is None):
            raise ValueError("give `reference` and `registration` (one penalty) or `cases` (several)")
        if self.cases is not None and len({c.reference.replace(" ", "") for c in self.cases}) != len(self.cases):
            raise ValueError("each penalty may be in `cases` once")
        return self


class RefundOut(Schema):
    refund_reference: str
    case_reference: str = Field(description="The penalty it goes back on")
    amount_pence: int
    status: str
    requested_at: datetime
    finished_at: datetime | None


class EcsOut(Schema):
    status: Literal["not_queued", "queued", "sent", "exception", "resolved"]
    recorded_at: datetime | None


class LineOut(Schema):
    case_reference: str
    amount_pence: int
    ecs: EcsOut


class PaymentOut(Schema):
    payment_reference: str
    case_reference: str = Field(description="The penalty paid (with several, the first of `lines`)")
    status: str
    amount_pence: int
    channel: str
    created_at: datetime
    finished_at: datetime | None
    next_url: str | None = Field(description="The provider's card page, for the payer only; while in progress")
    ecs: EcsOut
    refunds: list[RefundOut]
    lines: list[LineOut] = Field(description="Each penalty the payment pays, its amount and where ECS stands")
    your_reference: str | None = None


class PaymentPage(Schema):
    items: list[PaymentOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page, or keep it to poll for newer payments later "
        "(null only when nothing was listed yet)"
    )
    has_more: bool = Field(description="More payments are ready now: fetch the next page at once")


class ProblemOut(Schema):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict] | None = None
    channel: str | None = Field(
        default=None, description="payment-in-progress: the channel of the payment in progress (ONLINE or PHONE)"
    )
