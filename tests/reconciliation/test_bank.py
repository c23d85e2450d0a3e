"""The bank, the reconciliation's fourth side: finance loads the account's statement (the
command or the reconciliation page); the day's payout is matched against the provider's
settled net (payments - fees - refunds - lost disputes - dispute fees)."""

from __future__ import annotations

import json

import pytest

from penaltypay.adapters.factories import payment_provider
from penaltypay.payments.disputes import sync_disputes
from penaltypay.reconciliation.models import BankStatement, BankStatementLine
from penaltypay.reconciliation.report import as_json
from penaltypay.reconciliation.statement import StatementRefused, parse_statement
from penaltypay.staff.roles import Role
from tests.ecs_helpers import deliver, reconcile
from tests.staff_helpers import penaltypay

pytestmark = pytest.mark.django_db(transaction=True)


def csv_of(*lines: str) -> bytes:
    return ("Date,Description,Amount\n" + "".join(f"{line}\n" for line in lines)).encode()


def pounds(pence: int) -> str:
    return f"{'-' if pence < 0 else ''}{abs(pence) // 100}.{abs(pence) % 100:02d}"


# --- reading a statement ----------------------------------------------------------------------


def test_a_statement_is_read_line_by_line_with_identical_lines_kept_apart():
    statement = parse_statement(
        b"\xef\xbb\xbf"  # a byte-order mark, as spreadsheets write
        + csv_of(
            '2027-03-10,"STRIPE PAYMENTS UK, PAYOUT",69.65',
            "2027-03-10,BANK CHARGE,-2.50",
            "2027-03-10,BANK CHARGE,-2.50",
            "",
        )
    )
    assert [(line.number, str(line.day), line.description, line.amount_pence) for line in statement.lines] == [
        (2, "2027-03-10", "STRIPE PAYMENTS UK, PAYOUT", 6965),
        (3, "2027-03-10", "BANK CHARGE", -250),
        (4, "2027-03-10", "BANK CHARGE", -250),
    ]
    assert len({line.key for line in statement.lines}) == 3
    assert (str(statement.first_day), str(statement.last_day)) == ("2027-03-10", "2027-03-10")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"Day,Text,Money\n2027-03-10,X,1.00\n", "line 1: the first line must be the header"),
        (csv_of("2027-03-10,X,1.00", "10/03/2027,X,1.00"), "line 3: the date must be YYYY-MM-DD"),
        (csv_of("2027-02-30,X,1.00"), "line 2: 2027-02-30 is not a real date"),
        (csv_of("2027-03-10,X,1.5"), "line 2: the amount must be pounds with two decimals"),
        (csv_of("2027-03-10,X,£1.50"), "line 2: the amount must be pounds"),
        (csv_of("2027-03-10,X,1.50", "2027-03-11,X,1.50,extra"), "line 3: expected 3 fields"),
        (csv_of("2027-03-10, ,1.50"), "line 2: the description is empty"),
        (csv_of(), "the statement has no lines"),
        (b"\xff\xfe\x00D", "not UTF-8"),
    ],
)
def test_a_bad_statement_is_refused_saying_where(data, message):
    with pytest.raises(StatementRefused, match=message):
        parse_statement(data)


# --- loading it --------------------------------------------------------------------------------


def test_the_command_loads_a_statement_once_and_refuses_a_bad_one_whole(tmp_path):
    good = tmp_path / "march.csv"
    good.write_bytes(csv_of("2027-03-10,PAYOUT A,69.65", "2027-03-11,PAYOUT B,12.00"))
    first = penaltypay("bank-statement", "import", str(good), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "status": "loaded",
        "file": "march.csv",
        "first_day": "2027-03-10",
        "last_day": "2027-03-11",
        "lines": 2,
        "new_lines": 2,
    }
    again = penaltypay("bank-statement", "import", str(good), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "already_loaded"
    assert BankStatementLine.objects.count() == 2 and BankStatement.objects.count() == 1

    overlapping = tmp_path / "overlap.csv"
    overlapping.write_bytes(csv_of("2027-03-11,PAYOUT B,12.00", "2027-03-12,PAYOUT C,1.00"))
    assert json.loads(penaltypay("bank-statement", "import", str(overlapping), "--json").stdout)["new_lines"] == 1

    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_of("2027-03-13,PAYOUT D,5.00", "2027-03-14,PAYOUT E,five pounds"))
    refused = penaltypay("bank-statement", "import", str(bad), "--json")
    assert refused.returncode == 1
    answer = json.loads(refused.stdout)
    assert answer["status"] == "refused" and answer["error"].startswith("line 3:")
    assert BankStatementLine.objects.count() == 3  # nothing of the bad file, not even its good line
    plain = penaltypay("bank-statement", "import", str(bad))
    assert plain.returncode == 1 and "line 3" in plain.stderr and "nothing loaded" in plain.stderr


# --- the day's payout --------------------------------------------------------------------------


@pytest.fixture
def paid_day(today, reduced_case, pay_online, ecs, clock, provider):
    """A day with one payment delivered to ECS: the three other sides balance."""
    pay_online(reduced_case)
    deliver(ecs, clock)
    return today


def load(*lines: str) -> None:
    from penaltypay.reconciliation.bank import load_statement

    load_statement(csv_of(*lines), file_name="statement.csv", by="fin.a")


def test_the_payout_equal_to_the_settled_net_balances_all_four_sides(paid_day, ecs, provider):
    net = 4000 - (4 + 10)  # the sandbox's default fee: 0.1% plus 10p
    load(f"{paid_day},SANDBOX PAY PAYOUT,{pounds(net)}")
    report = as_json(reconcile(paid_day, ecs))
    assert report["status"] == "balanced" and report["bank_loaded"] is True
    assert report["totals"]["bank_pence"] == net == report["totals"]["settled_net_pence"]
    assert report["totals"]["fees_pence"] == 14
    assert report["items"] == []


def test_a_payout_a_penny_short_or_a_stray_credit_is_a_difference(paid_day, ecs, provider):
    load(f"{paid_day},SANDBOX PAY PAYOUT,{pounds(3985)}", f"{paid_day},UNKNOWN TRANSFER,25.00")
    report = as_json(reconcile(paid_day, ecs))
    assert report["status"] == "differences"
    found = {item["class"]: item for item in report["items"]}
    assert set(found) == {"payout_differs", "unmatched_credit"}
    assert found["payout_differs"]["bank_pence"] == 3985 and "short by 1 pence" in found["payout_differs"]["detail"]
    assert found["unmatched_credit"]["bank_pence"] == 2500 and "UNKNOWN TRANSFER" in found["unmatched_credit"]["detail"]
    assert report["totals"]["bank_pence"] == 3985 + 2500  # the sum of the items, as every total


def test_a_statement_covering_the_day_without_the_payout_says_it_is_missing(paid_day, ecs, provider):
    load(f"{paid_day},BANK CHARGE,-1.00")
    report = as_json(reconcile(paid_day, ecs))
    assert report["status"] == "differences"
    found = {item["class"]: item for item in report["items"]}
    assert set(found) == {"payout_missing", "unmatched_credit"}  # a bank charge is no payout
    assert "3986 pence is not on the statement" in found["payout_missing"]["detail"]
    assert found["unmatched_credit"]["detail"].startswith("debit BANK CHARGE")


def test_a_lost_dispute_is_taken_from_the_payout_and_reconciles_with_ecs(
    today, reduced_case, pay_online, ecs, clock, provider
):
    provider.configure(dispute_open_seconds=0, dispute_decide_seconds=0)
    payment = pay_online(reduced_case, card="4000000000000259")
    sync_disputes(payment_provider())
    deliver(ecs, clock)
    net = 4000 - 14 - 4000 - 2000  # the payment less its fee, less the lost dispute and its fee
    load(f"{today},SANDBOX PAY PAYOUT,{pounds(net)}")
    run = reconcile(today, ecs)
    report = as_json(run)
    assert report["status"] == "balanced", report
    assert report["totals"]["settled_net_pence"] == net == report["totals"]["bank_pence"]
    assert report["totals"]["fees_pence"] == 14 + 2000
    kinds = dict(run.items.values_list("key", "kind"))
    assert kinds[payment.reference] == "PAYMENT" and "DISPUTE" in kinds.values()
    assert run.provider_pence == run.penaltypay_pence == run.ecs_pence == 0  # paid, then taken back


def test_finance_loads_the_statement_on_the_reconciliation_page(staff_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    finance = staff_client(Role.FINANCE)
    page = finance.post(
        "/staff/reconciliation",
        {"statement": SimpleUploadedFile("nov.csv", csv_of("2027-03-10,PAYOUT,1.00"), "text/csv")},
    )
    assert page.status_code == 200 and "Statement loaded: 1 lines (1 new)" in page.content.decode()
    again = finance.post(
        "/staff/reconciliation",
        {"statement": SimpleUploadedFile("nov.csv", csv_of("2027-03-10,PAYOUT,1.00"), "text/csv")},
    )
    assert "was loaded before: nothing changed" in again.content.decode()
    bad = finance.post(
        "/staff/reconciliation",
        {"statement": SimpleUploadedFile("bad.csv", csv_of("2027-03-10,PAYOUT,1"), "text/csv")},
    )
    assert bad.status_code == 400 and "line 2: the amount must be pounds" in bad.content.decode()
    assert finance.post("/staff/reconciliation", {}).status_code == 400
    assert BankStatementLine.objects.count() == 1
