"""The bulk import's staging table, made once by the schema's owner, so that the application's
role needs no TEMPORARY privilege (a temporary table of its own could shadow a table an
owner's function reads). UNLOGGED: it holds one import's rows for the length of that
import's transaction, and is emptied before and after. The release before this one keeps
making its own temporary table of the same name, which its session sees first: it runs
unchanged while this migration is applied."""

from django.db import migrations

CREATE = """
CREATE UNLOGGED TABLE IF NOT EXISTS extract_stage AS
SELECT 0::bigint AS line_no, case_record.* FROM case_record WITH NO DATA
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP TABLE IF EXISTS extract_stage", params=None)


class Migration(migrations.Migration):
    dependencies = [("extract", "0001_initial"), ("cases", "0003_extract_models_move_to_extract_app")]
    operations = [migrations.RunPython(forwards, backwards)]
