"""A reminder before the reduced amount ends (issue 35), as a keeper and the worker meet it:
asked for on the penalty page, confirmed at once with a way to stop it, sent once when its
day comes after reading the penalty from ECS again — never for a penalty paid or closed
meanwhile, never twice, never after it was stopped."""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import replace
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client
from django.utils import timezone

from penaltypay.cases.ports import ecs_for_lookups
from penaltypay.reminders.models import Reminder
from penaltypay.reminders.service import send_due
from penaltypay.web.formats import long_date
from tests.citizen.conftest import find

pytestmark = pytest.mark.django_db(transaction=True)

STOP = re.compile(r"https?://\S+/reminders/stop/(\S+)")


def ask_for_reminder(client: Client, case, email="keeper@example.com"):
    assert find(client, case.reference, case.vrm).status_code == 302
    page = client.get("/your-penalty").content.decode()
    assert 'href="/your-penalty/reminder"' in page and "Get a reminder before the reduced amount ends" in page
    return client.post("/your-penalty/reminder", {"email": email})


def send_due_now() -> dict:
    out = StringIO()
    call_command("reminders", "send-due", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_a_reminder_is_confirmed_at_once_then_sent_once_naming_the_penalty_and_the_reduced_amount(
    client, put_case, today, mailoutbox
):
    case = put_case(reference="76000001", reduction_deadline=today + timedelta(days=2))
    answer = ask_for_reminder(client, case)
    assert answer.status_code == 302 and answer["Location"] == "/your-penalty/reminder/set"
    assert "Check your email" in client.get(answer["Location"]).content.decode()
    (confirmation,) = mailoutbox
    assert confirmation.to == ["keeper@example.com"] and case.reference in confirmation.body
    # Two days left, reminders go three days before: "we will email you" today, not in the past.
    assert f"We will email you on {long_date(today)}." in confirmation.body
    assert STOP.search(confirmation.body)

    assert send_due_now() == {"sent": 1, "skipped": {}, "failed": 0}
    reminder = mailoutbox[1]
    assert reminder.to == ["keeper@example.com"]
    assert case.reference in reminder.subject and "£40" in reminder.body
    last_day = f"{case.reduction_deadline.day} "  # "9 December 2026": the last day, by name
    assert last_day in reminder.body and "http://127.0.0.1:8000/" in reminder.body
    assert "/pay" not in reminder.body.replace("/reminders/stop/", "")  # never a link that pays
    assert send_due_now() == {"sent": 0, "skipped": {}, "failed": 0}  # once
    assert len(mailoutbox) == 2


def test_a_penalty_paid_before_its_day_gets_no_reminder(client, put_case, ecs, today, mailoutbox):
    case = put_case(reference="76000002", reduction_deadline=today + timedelta(days=2))
    ask_for_reminder(client, case)
    ecs.put_case(replace(case, status="PAID", amount_paid_pence=case.reduced_penalty_pence))  # paid by phone
    assert send_due_now() == {"sent": 0, "skipped": {"paid": 1}, "failed": 0}
    assert len(mailoutbox) == 1  # the confirmation only


def test_a_reminder_waits_for_its_day(client, put_case, today, mailoutbox):
    case = put_case(reference="76000003", reduction_deadline=today + timedelta(days=10))
    ask_for_reminder(client, case)
    assert send_due_now()["sent"] == 0
    assert Reminder.objects.get().send_on == case.reduction_deadline - timedelta(days=3)


def test_asking_again_changes_nothing_and_says_the_same(client, put_case, today, mailoutbox):
    case = put_case(reference="76000004", reduction_deadline=today + timedelta(days=2))
    first = ask_for_reminder(client, case)
    again = ask_for_reminder(Client(), case)  # someone else, the same address
    assert (first.status_code, first["Location"]) == (again.status_code, again["Location"])
    assert Reminder.objects.count() == 1 and len(mailoutbox) == 1


def test_the_emails_stop_link_shows_a_button_and_stopping_means_no_reminder(client, put_case, today, mailoutbox):
    case = put_case(reference="76000005", reduction_deadline=today + timedelta(days=2))
    ask_for_reminder(client, case)
    token = STOP.search(mailoutbox[0].body).group(1)
    stranger = Client()
    assert "Stop reminder" in stranger.get(f"/reminders/stop/{token}").content.decode()  # a link scanner: nothing stops
    assert Reminder.objects.get().stopped_at is None
    assert "Reminder stopped" in stranger.post(f"/reminders/stop/{token}").content.decode()
    assert send_due_now()["sent"] == 0 and len(mailoutbox) == 1
    assert "Reminder stopped" in Client().post("/reminders/stop/no-such-token").content.decode()  # the same answer


def test_a_bad_address_is_explained_and_nothing_is_set(client, put_case, today):
    case = put_case(reference="76000006", reduction_deadline=today + timedelta(days=2))
    find(client, case.reference, case.vrm)
    for typed, message in (("", "Enter your email address"), ("not-an-address", "in the correct format")):
        page = client.post("/your-penalty/reminder", {"email": typed})
        assert page.status_code == 400 and message in page.content.decode()
    assert not Reminder.objects.exists()


def test_two_workers_at_once_send_each_reminder_once(client, put_case, today, mailoutbox):
    cases = [put_case(reference=f"7600010{n}", reduction_deadline=today + timedelta(days=1)) for n in range(4)]
    for case in cases:
        ask_for_reminder(Client(), case, email=f"keeper{case.reference}@example.com")
    reports = []

    def worker():
        try:
            reports.append(send_due(ecs_for_lookups()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.sent for r in reports) == 4
    assert len(mailoutbox) == 4 + 4  # four confirmations, four reminders: none twice


def test_a_welsh_keeper_gets_welsh_emails(client, put_case, today, mailoutbox):
    client.get("/?lang=cy")
    case = put_case(reference="76000007", reduction_deadline=today + timedelta(days=2))
    ask_for_reminder_page = find(client, case.reference, case.vrm)
    assert ask_for_reminder_page.status_code == 302
    assert "Cael nodyn atgoffa" in client.get("/your-penalty").content.decode()
    client.post("/your-penalty/reminder", {"email": "ceidwad@example.com"})
    send_due_now()
    assert [m.to for m in mailoutbox] == [["ceidwad@example.com"]] * 2
    assert all("cosb" in m.body.lower() for m in mailoutbox)


def test_the_address_goes_with_the_reminder_once_the_reduced_amounts_last_day_has_passed(client, put_case, today):
    from penaltypay.operations.retention import purge

    ending = put_case(reference="76000008", reduction_deadline=today + timedelta(days=1))
    later = put_case(reference="76000009", reduction_deadline=today + timedelta(days=8))
    ask_for_reminder(client, ending, email="one@example.com")
    ask_for_reminder(Client(), later, email="two@example.com")
    the_day_after = timezone.now() + timedelta(days=2)
    assert purge(now=the_day_after).removed["reminders"] == 1
    assert list(Reminder.objects.values_list("email", flat=True)) == ["two@example.com"]


def test_staff_see_that_a_reminder_is_set_not_the_address_and_stopping_it_is_audited(
    client, put_case, today, staff_client, mailoutbox
):
    from penaltypay.audit.models import AuditEntry
    from penaltypay.staff.roles import Role

    case = put_case(reference="76000010", reduction_deadline=today + timedelta(days=2))
    ask_for_reminder(client, case, email="private@example.com")
    agent = staff_client(Role.AGENT)
    page = agent.get(f"/staff/cases/{case.reference}").content.decode()
    assert "asked for a reminder" in page and "private@example.com" not in page
    assert agent.post(f"/staff/cases/{case.reference}/stop-reminder").status_code == 302
    entry = AuditEntry.objects.filter(action="stop-reminder").latest("id")
    assert (entry.actor, entry.object_id, entry.outcome) == (agent.user.username, case.reference, "success")
    assert Reminder.objects.get().stopped_by == agent.user.username
    assert "asked for a reminder" not in agent.get(f"/staff/cases/{case.reference}").content.decode()
    assert send_due_now()["sent"] == 0


def test_a_fleet_asks_once_on_its_list_and_gets_a_reminder_for_each_reduced_penalty(put_case, today, mailoutbox):
    reduced = [put_case(reference=f"7600020{n}", reduction_deadline=today + timedelta(days=2)) for n in range(2)]
    not_reduced = put_case(reference="76000209", reduction_deadline=today - timedelta(days=1))
    keeper = Client()
    for case in [*reduced, not_reduced]:
        find(keeper, case.reference, case.vrm)
        keeper.post("/your-penalties/add", {"then": "basket"})
    page = keeper.get("/your-penalties").content.decode()
    assert 'href="/your-penalties/reminder"' in page
    assert "each of your 2 penalties" in keeper.get("/your-penalties/reminder").content.decode()
    assert keeper.post("/your-penalties/reminder", {"email": "fleet@example.com"})["Location"] == (
        "/your-penalty/reminder/set"
    )
    assert sorted(Reminder.objects.values_list("case_reference", flat=True)) == [c.reference for c in reduced]
    assert send_due_now()["sent"] == 2


def test_where_texts_are_offered_a_mobile_gets_the_confirmation_and_the_reminder_too(
    client, put_case, today, settings, fake_notify
):
    url, received = fake_notify
    settings.NOTIFY_API_KEY = f"penaltypay_test-{uuid.uuid4()}-{uuid.uuid4()}"
    settings.NOTIFY_BASE_URL = url
    settings.RECEIPT_SENDER = "penaltypay.adapters.notify.NotifyReceipts"
    settings.NOTIFY_REMINDER_CONFIRM_TEMPLATE_ID = str(uuid.uuid4())
    settings.NOTIFY_REMINDER_TEMPLATE_ID = str(uuid.uuid4())
    settings.NOTIFY_REMINDER_SMS_TEMPLATE_ID = str(uuid.uuid4())
    case = put_case(reference="76000011", reduction_deadline=today + timedelta(days=2))
    find(client, case.reference, case.vrm)
    assert 'name="mobile"' in client.get("/your-penalty/reminder").content.decode()
    wrong = client.post("/your-penalty/reminder", {"email": "keeper@example.com", "mobile": "0123"})
    assert wrong.status_code == 400 and "Enter a UK mobile number" in wrong.content.decode()
    client.post("/your-penalty/reminder", {"email": "keeper@example.com", "mobile": "07700 900 982"})
    assert send_due_now()["sent"] == 1
    texts = [r["body"] for r in received if r["path"] == "/v2/notifications/sms"]
    emails = [r["body"] for r in received if r["path"] == "/v2/notifications/email"]
    assert [t["phone_number"] for t in texts] == ["+447700900982"] * 2 and len(emails) == 2
    assert "To stop reminders" in texts[0]["personalisation"]["body"]
    assert "£40" in texts[1]["personalisation"]["body"] and case.reference in texts[1]["personalisation"]["body"]
    assert emails[1]["personalisation"]["amount"] == "£40"


def test_a_worker_cut_off_before_handing_a_reminder_over_is_followed_and_one_cut_off_after_is_not(
    client, put_case, today, mailoutbox
):
    """What a killed worker leaves: a claim (it died before sending: another sends it, once
    the claim is old) or a hand-over under way (the email may have left: never a second)."""
    before, during = (put_case(reference=f"7600030{n}", reduction_deadline=today + timedelta(days=1)) for n in (1, 2))
    ask_for_reminder(client, before, email="before@example.com")
    ask_for_reminder(Client(), during, email="during@example.com")
    long_ago = timezone.now() - timedelta(minutes=11)
    Reminder.objects.filter(case_reference=before.reference).update(claimed_at=long_ago)
    Reminder.objects.filter(case_reference=during.reference).update(claimed_at=long_ago, sending_at=long_ago)
    assert send_due_now_allowing_failures() == {"sent": 1, "skipped": {}, "failed": 1}
    assert [m.to for m in mailoutbox[2:]] == [["before@example.com"]]
    assert Reminder.objects.get(case_reference=during.reference).outcome == "failed"
    assert send_due_now()["sent"] == 0 and len(mailoutbox) == 3


def send_due_now_allowing_failures() -> dict:
    out = StringIO()
    with pytest.raises(CommandError, match="1 reminder"):
        call_command("reminders", "send-due", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_asking_again_and_again_is_limited_per_penalty_and_the_address_is_never_logged(
    put_case, today, mailoutbox, caplog
):
    case = put_case(reference="76000012", reduction_deadline=today + timedelta(days=2))
    with caplog.at_level("DEBUG"):
        for n in range(8):
            ask_for_reminder(Client(), case, email=f"someone{n}@example.com")
        send_due_now()
    assert Reminder.objects.count() == 5  # PER_PENALTY_A_DAY: the rest were told the same, and nothing was set
    assert "@example.com" not in caplog.text
