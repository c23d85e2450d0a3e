# The extract import's run records moved from the cases app to the extract app
# (docs/architecture.md): the tables stay as they are; only Django's state moves.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("cases", "0002_extractimport_extractrecordissue"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="ExtractImport",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("file_name", models.CharField(max_length=255)),
                        ("sequence", models.PositiveIntegerField(blank=True, null=True)),
                        ("extract_date", models.DateField(blank=True, null=True)),
                        ("sha256", models.CharField(blank=True, max_length=64)),
                        ("size_bytes", models.BigIntegerField(default=0)),
                        (
                            "outcome",
                            models.CharField(
                                choices=[
                                    ("running", "running"),
                                    ("applied", "applied"),
                                    ("rejected", "rejected"),
                                    ("already-loaded", "already-loaded"),
                                    ("interrupted", "interrupted"),
                                    ("failed", "failed"),
                                ],
                                default="running",
                                max_length=20,
                            ),
                        ),
                        ("reason", models.CharField(blank=True, max_length=500)),
                        ("records_read", models.BigIntegerField(default=0)),
                        ("records_applied", models.BigIntegerField(default=0)),
                        ("records_rejected", models.BigIntegerField(default=0)),
                        ("records_conflicts", models.BigIntegerField(default=0)),
                        ("method", models.CharField(blank=True, max_length=20)),
                        ("started_at", models.DateTimeField()),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("seconds", models.FloatField(blank=True, null=True)),
                        ("host", models.CharField(blank=True, max_length=100)),
                    ],
                    options={
                        "db_table": "extract_import",
                        "ordering": ["-started_at", "-id"],
                        "indexes": [models.Index(fields=["outcome", "sequence"], name="extract_import_outcome_seq")],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("outcome", "applied")),
                                fields=("sequence",),
                                name="one_applied_extract_per_sequence",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="ExtractRecordIssue",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[("rejected", "rejected"), ("conflict", "conflict")], max_length=10
                            ),
                        ),
                        ("line", models.BigIntegerField()),
                        ("reference", models.CharField(blank=True, max_length=8)),
                        ("field", models.CharField(max_length=40)),
                        ("reason", models.CharField(max_length=200)),
                        (
                            "run",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="issues",
                                to="extract.extractimport",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "extract_record_issue",
                        "indexes": [models.Index(fields=["run", "kind", "line"], name="extract_issue_run_kind_line")],
                    },
                ),
            ],
        ),
    ]
