"""The audit trigger's function runs with its owner's rights (SECURITY DEFINER), so every name
it uses must resolve to the owner's objects. Its search path named `pg_catalog, public` only,
and PostgreSQL then searches the session's temporary schema *first* for tables: the
application's role could `CREATE TEMP TABLE audit_policy` with a key and an age of its own
and rewrite any audit address. Now the policy table is schema-qualified and `pg_temp` is
named last (PostgreSQL never looks there for functions). Replacing the function is safe for
the release before this one: the trigger and its behaviour for honest callers are unchanged.
"""

from django.db import migrations

HARDENED = """
CREATE OR REPLACE FUNCTION public.audit_entry_append_only() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    policy public.audit_policy%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.id, NEW.at, NEW.actor, NEW.actor_kind, NEW.action, NEW.object_type, NEW.object_id,
            NEW.outcome, NEW.detail)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.at, OLD.actor, OLD.actor_kind, OLD.action, OLD.object_type, OLD.object_id,
            OLD.outcome, OLD.detail)
       AND OLD.address <> '' AND OLD.address NOT LIKE 'h:%' THEN
        SELECT * INTO policy FROM public.audit_policy WHERE id = 1;
        IF FOUND
           AND OLD.at < pg_catalog.now() - pg_catalog.make_interval(days => policy.address_days)
           AND NEW.address = 'h:' || pg_catalog.left(pg_catalog.encode(
                   hmac(pg_catalog.convert_to(OLD.address, 'UTF8'), policy.hash_key, 'sha256'), 'hex'), 24) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""

PREVIOUS = HARDENED.replace("public.audit_policy", "audit_policy").replace(", pg_temp AS", " AS")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(HARDENED, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_address_hash_checked_by_the_database")]
    operations = [migrations.RunPython(forwards, backwards)]
