"""The audit log cannot be changed or removed: by the model everywhere, by the database
itself on PostgreSQL (whoever asks, raw SQL included)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from penaltypay.audit.log import record
from penaltypay.audit.models import AppendOnly, AuditEntry

pytestmark = pytest.mark.django_db


def test_an_entry_keeps_who_what_when_where_and_the_outcome():
    entry = record(
        "a.person",
        "view-case",
        object_type="case",
        object_id="70000001",
        address="192.0.2.1",
        outcome=AuditEntry.SUCCESS,
        detail="x" * 900,
    )
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.actor, stored.action, stored.object_type, stored.object_id, stored.address, stored.outcome) == (
        "a.person",
        "view-case",
        "case",
        "70000001",
        "192.0.2.1",
        "success",
    )
    assert stored.at is not None and stored.at.tzinfo is not None
    assert len(stored.detail) == 500


def test_the_model_refuses_change_and_removal():
    entry = record("a.person", "sign-in")
    entry.action = "something else"
    with pytest.raises(AppendOnly):
        entry.save()
    with pytest.raises(AppendOnly):
        entry.delete()
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(action="x")
    with pytest.raises(AppendOnly):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "sign-in"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_postgresql_refuses_update_and_delete_even_in_raw_sql():
    entry = record("a.person", "sign-in")
    for sql in ("UPDATE audit_entry SET action = 'x' WHERE id = %s", "DELETE FROM audit_entry WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).action == "sign-in"
