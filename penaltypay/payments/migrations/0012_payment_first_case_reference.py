"""Payment.case_reference becomes first_case_reference in the code only: the column keeps its
name, so this migration changes nothing in the database and the release before it keeps
reading and writing the column while it runs (expand, then contract: ADR 0025)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("payments", "0011_payment_lines")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(
                    model_name="payment", old_name="case_reference", new_name="first_case_reference"
                ),
                migrations.AlterField(
                    model_name="payment",
                    name="first_case_reference",
                    field=models.CharField(db_column="case_reference", db_index=True, max_length=8),
                ),
                # The same constraint on the same column: only its field's name changed.
                migrations.RemoveConstraint(model_name="payment", name="one_live_payment_per_case"),
                migrations.AddConstraint(
                    model_name="payment",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("status__in", ["create_unknown", "in_progress", "new"])),
                        fields=("first_case_reference",),
                        name="one_live_payment_per_case",
                    ),
                ),
            ],
            database_operations=[],
        )
    ]
