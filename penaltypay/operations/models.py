from django.db import models


class JobLock(models.Model):
    """One row per singleton job; a live lease (lease_until in the future) means someone runs it."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)  # the last run that ended without an error

    class Meta:
        db_table = "job_lock"

    def __str__(self) -> str:
        return f"job {self.name}"


class PurgeRun(models.Model):
    """One application of the retention policy (`penaltypay purge`, or the worker's daily
    run): when, and how many of each kind were removed (operations.retention)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=20)  # schedule | command
    removed = models.JSONField(default=dict)

    class Meta:
        db_table = "purge_run"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"purge {self.started_at:%Y-%m-%d %H:%M}"
