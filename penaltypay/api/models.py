"""Machine clients of the API, and the Idempotency-Keys they have used."""

from __future__ import annotations

from django.db import models


class ApiClient(models.Model):
    name = models.CharField(max_length=100, unique=True)
    client_id = models.CharField(max_length=32, unique=True)
    # SHA-256 of the token: the token is 256 random bits, so a fast hash cannot be guessed
    # back; it is shown once and never stored.
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    rate_limit_per_minute = models.PositiveIntegerField(default=120)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "api_client"

    def __str__(self) -> str:
        return f"API client {self.name}"


class IdempotencyRecord(models.Model):
    """A POST /payments made with an Idempotency-Key: the same key and body give the same
    payment; the same key with another body is refused."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    payment_reference = models.CharField(max_length=36, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "api_idempotency"
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="one_use_of_a_key_per_client")]

    def __str__(self) -> str:
        return f"{self.client_id}:{self.key}"
