"""Records of the nightly extract imports (docs/extract-import.md)."""

from __future__ import annotations

from django.db import models


class ExtractImport(models.Model):
    """One run of the nightly extract import for one file (docs/extract-import.md).

    Written as `running` before the file is read (in its own transaction), and
    finished in the same transaction that applies the file, so `applied` is never
    recorded for changes that did not commit. A run whose process died stays
    `running` until the next import marks it `interrupted`.
    """

    RUNNING = "running"
    APPLIED = "applied"
    REJECTED = "rejected"
    ALREADY_LOADED = "already-loaded"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    OUTCOMES = (RUNNING, APPLIED, REJECTED, ALREADY_LOADED, INTERRUPTED, FAILED)

    file_name = models.CharField(max_length=255)
    sequence = models.PositiveIntegerField(null=True, blank=True)
    extract_date = models.DateField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=[(o, o) for o in OUTCOMES], default=RUNNING)
    reason = models.CharField(max_length=500, blank=True)
    records_read = models.BigIntegerField(default=0)
    records_applied = models.BigIntegerField(default=0)
    records_rejected = models.BigIntegerField(default=0)
    records_conflicts = models.BigIntegerField(default=0)
    method = models.CharField(max_length=20, blank=True)  # bulk-copy | staged-merge | orm
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    host = models.CharField(max_length=100, blank=True)  # host:pid of the importing process

    class Meta:
        db_table = "extract_import"
        ordering = ["-started_at", "-id"]
        constraints = [
            # A sequence is applied once: two importers racing cannot both apply it.
            models.UniqueConstraint(
                fields=["sequence"], condition=models.Q(outcome="applied"), name="one_applied_extract_per_sequence"
            ),
        ]
        indexes = [models.Index(fields=["outcome", "sequence"], name="extract_import_outcome_seq")]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.outcome})"


class ExtractRecordIssue(models.Model):
    """A detail record of an applied file that was not applied: rejected by a field
    rule, or a conflict (money taken for the case since the extract was cut)."""

    REJECTED = "rejected"
    CONFLICT = "conflict"

    run = models.ForeignKey(ExtractImport, on_delete=models.CASCADE, related_name="issues")
    kind = models.CharField(max_length=10, choices=[(REJECTED, REJECTED), (CONFLICT, CONFLICT)])
    line = models.BigIntegerField()
    reference = models.CharField(max_length=8, blank=True)  # columns 2-9 as given
    field = models.CharField(max_length=40)
    reason = models.CharField(max_length=200)

    class Meta:
        db_table = "extract_record_issue"
        indexes = [models.Index(fields=["run", "kind", "line"], name="extract_issue_run_kind_line")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.kind} ({self.field})"
