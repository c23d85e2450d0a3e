# Safe for the release before it: nullable, and with a database default.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("migration_samples", "0002_add_a_column_the_old_release_does_not_write")]
    operations = [
        migrations.AddField("sample", "kept", models.CharField(max_length=20, null=True)),
        migrations.AddField("sample", "flag", models.BooleanField(db_default=False)),
    ]
