"""The one change the audit log allows, checked by the database itself: an address older
than the retention period (`audit_policy.address_days`) replaced by the keyed hash of that
same address ('h:' + HMAC-SHA256 under `audit_policy.hash_key`, 24 hex digits). A fresh
address, another value, a second change, any other column: refused.

`audit_policy` is written when `penaltypay migrate` runs (by the schema's owner, from the
settings; penaltypay.audit.policy) and the application's role cannot read or change it;
the trigger reads it with its owner's rights (SECURITY DEFINER)."""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE TABLE IF NOT EXISTS audit_policy (
    id integer PRIMARY KEY CHECK (id = 1),
    address_days integer NOT NULL CHECK (address_days >= 1),
    hash_key bytea NOT NULL
);
REVOKE ALL ON audit_policy FROM PUBLIC;
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    policy audit_policy%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.id, NEW.at, NEW.actor, NEW.actor_kind, NEW.action, NEW.object_type, NEW.object_id,
            NEW.outcome, NEW.detail)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.at, OLD.actor, OLD.actor_kind, OLD.action, OLD.object_type, OLD.object_id,
            OLD.outcome, OLD.detail)
       AND OLD.address <> '' AND OLD.address NOT LIKE 'h:%' THEN
        SELECT * INTO policy FROM audit_policy WHERE id = 1;
        IF FOUND
           AND OLD.at < now() - make_interval(days => policy.address_days)
           AND NEW.address = 'h:' || left(encode(hmac(convert_to(OLD.address, 'UTF8'), policy.hash_key, 'sha256'),
                                                 'hex'), 24) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor
       AND NEW.actor_kind = OLD.actor_kind AND NEW.action = OLD.action
       AND NEW.object_type = OLD.object_type AND NEW.object_id = OLD.object_id
       AND NEW.outcome = OLD.outcome AND NEW.detail = OLD.detail
       AND OLD.address NOT LIKE 'h:%' AND NEW.address LIKE 'h:%' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TABLE IF EXISTS audit_policy;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_allow_address_pseudonymising")]
    operations = [migrations.RunPython(forwards, backwards)]
