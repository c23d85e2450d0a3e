from django.db import models


class JobLock(models.Model):
    """One row per singleton job; holding its row lock means 'I am the one running it'."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "job_lock"
