"""The local case store: the last thing ECS told us about each case.

Filled by GetCase answers (and, later, the nightly extract). It is what lets a
keeper pay while ECS is in its batch window or down.
"""

from __future__ import annotations

from django.db import models

from penaltypay.cases.domain import Case


class CaseRecord(models.Model):
    SOURCE_ECS = "ecs"
    SOURCE_EXTRACT = "extract"

    reference = models.CharField(max_length=8, primary_key=True)
    case_type = models.CharField(max_length=4)
    vrm = models.CharField(max_length=7)
    vehicle_make = models.CharField(max_length=40, blank=True)
    vehicle_colour = models.CharField(max_length=20, blank=True)
    issue_date = models.DateField()
    penalty_pence = models.BigIntegerField()
    reduced_penalty_pence = models.BigIntegerField()
    reduction_deadline = models.DateField(null=True, blank=True)
    arrears_pence = models.BigIntegerField(default=0)
    arrears_from = models.DateField(null=True, blank=True)
    arrears_to = models.DateField(null=True, blank=True)
    pay_by_date = models.DateField()
    status = models.CharField(max_length=20)
    amount_paid_pence = models.BigIntegerField(default=0)
    ecs_last_updated = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=10, default=SOURCE_ECS)
    refreshed_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "case_record"

    def __str__(self) -> str:
        return f"case {self.reference}"

    def to_case(self) -> Case:
        return Case(
            reference=self.reference,
            case_type=self.case_type,
            vrm=self.vrm,
            vehicle_make=self.vehicle_make,
            vehicle_colour=self.vehicle_colour,
            issue_date=self.issue_date,
            penalty_pence=self.penalty_pence,
            reduced_penalty_pence=self.reduced_penalty_pence,
            reduction_deadline=self.reduction_deadline,
            arrears_pence=self.arrears_pence,
            arrears_from=self.arrears_from,
            arrears_to=self.arrears_to,
            pay_by_date=self.pay_by_date,
            status=self.status,
            amount_paid_pence=self.amount_paid_pence,
            last_updated=self.ecs_last_updated,
        )

    @classmethod
    def fields_from_case(cls, case: Case) -> dict:
        return {
            "case_type": case.case_type,
            "vrm": case.vrm,
            "vehicle_make": case.vehicle_make,
            "vehicle_colour": case.vehicle_colour,
            "issue_date": case.issue_date,
            "penalty_pence": case.penalty_pence,
            "reduced_penalty_pence": case.reduced_penalty_pence,
            "reduction_deadline": case.reduction_deadline,
            "arrears_pence": case.arrears_pence,
            "arrears_from": case.arrears_from,
            "arrears_to": case.arrears_to,
            "pay_by_date": case.pay_by_date,
            "status": case.status,
            "amount_paid_pence": case.amount_paid_pence,
            "ecs_last_updated": case.last_updated,
        }
