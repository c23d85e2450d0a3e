# ExtractImport and ExtractRecordIssue now belong to the extract app (its 0001 takes
# them over); their tables are untouched.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0002_extractimport_extractrecordissue"),
        ("extract", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="ExtractRecordIssue"),
                migrations.DeleteModel(name="ExtractImport"),
            ],
        ),
    ]
