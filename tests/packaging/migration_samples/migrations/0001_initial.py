# A sample app for the migration checker's tests (tests/packaging/test_migrations_checker.py).
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []
    operations = [
        migrations.CreateModel("Sample", fields=[("id", models.BigAutoField(primary_key=True, serialize=False))]),
    ]
