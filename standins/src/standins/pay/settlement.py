"""Settlement as a Stripe-backed account has it: every captured payment carries the
provider's fee and its net amount and settles into one payout a day, from which the day's
refunds and lost disputes (amount plus dispute fee) are taken. Locally a payment settles
the day it is taken (`settle_after_days` 0), so a same-day reconciliation can be tried;
the payouts can be read as the bank statement would show them (`/_sandbox/payouts`)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from standins.pay.model import Payment, Refund

LONDON = ZoneInfo("Europe/London")


def settlement_day(moment: datetime) -> date:
    """A UK account settles by the UK's calendar: the Europe/London day of the moment."""
    return moment.astimezone(LONDON).date()


def fee_for(amount: int, basis_points: int, fixed_pence: int) -> int:
    """A percentage (in hundredths of a per cent, rounded half up to the penny) plus pence."""
    return (amount * basis_points + 5000) // 10000 + fixed_pence


class Settlement:
    """Mixed into SandboxProvider: it holds the state these operate on."""

    def _settle_payment(self, payment: Payment) -> None:
        # Called once, as the payment is captured.
        payment.fee = fee_for(payment.amount, self._config["fee_basis_points"], self._config["fee_fixed_pence"])
        payment.settled_on = settlement_day(payment.captured_at) + timedelta(days=self._config["settle_after_days"])

    def _settle_refund(self, refund: Refund) -> None:
        refund.settled_on = settlement_day(refund.created_at) + timedelta(days=self._config["settle_after_days"])

    def _settled(self, day: date | None) -> bool:
        return day is not None and day <= self._today()

    def payouts(self, start: date, end: date) -> list[dict]:
        """One payout a day with money in it, for days in [start, end): what reaches the bank
        `payout_delay_days` after the settlement day."""
        days: dict[date, dict] = {}

        def day_of(settled_on: date) -> dict:
            return days.setdefault(
                settled_on,
                {"payments": 0, "fees": 0, "refunds": 0, "disputes": 0, "dispute_fees": 0},
            )

        with self._lock:
            for payment in self._payments.values():
                if payment.settled_on and start <= payment.settled_on < end and self._settled(payment.settled_on):
                    day_of(payment.settled_on)["payments"] += payment.amount
                    day_of(payment.settled_on)["fees"] += payment.fee or 0
                for refund in payment.refunds:
                    if refund.status == "success" and refund.settled_on and start <= refund.settled_on < end:
                        day_of(refund.settled_on)["refunds"] += refund.amount
                for dispute in payment.disputes:
                    if dispute.status == "lost" and dispute.settled_on and start <= dispute.settled_on < end:
                        day_of(dispute.settled_on)["disputes"] += dispute.amount
                        day_of(dispute.settled_on)["dispute_fees"] += dispute.fee
            delay = timedelta(days=self._config["payout_delay_days"])
        out = []
        for settled_on in sorted(days):
            parts = days[settled_on]
            net = parts["payments"] - parts["fees"] - parts["refunds"] - parts["disputes"] - parts["dispute_fees"]
            if net == 0 and not any(parts.values()):
                continue
            out.append(
                {
                    "settled_date": settled_on.isoformat(),
                    "arrival_date": (settled_on + delay).isoformat(),
                    "amount": net,
                    "description": f"SANDBOX PAY PAYOUT {settled_on:%Y%m%d}",
                    **parts,
                }
            )
        return out

    def bank_statement_csv(self, start: date, end: date) -> str:
        """The payouts as a bank statement (Date,Description,Amount; pounds, credits positive)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["Date", "Description", "Amount"])
        for payout in self.payouts(start, end):
            pence = payout["amount"]
            sign = "-" if pence < 0 else ""
            writer.writerow(
                [payout["arrival_date"], payout["description"], f"{sign}{abs(pence) // 100}.{abs(pence) % 100:02d}"]
            )
        return out.getvalue()
