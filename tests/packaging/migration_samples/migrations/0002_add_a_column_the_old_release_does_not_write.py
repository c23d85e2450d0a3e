# Unsafe for the release before it: its inserts do not name `note`, which is NOT NULL with
# no database default (Django's `default` is applied by the new code only).
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("migration_samples", "0001_initial")]
    operations = [migrations.AddField("sample", "note", models.CharField(max_length=20, default=""))]
