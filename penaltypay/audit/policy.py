"""What the database needs to check the audit log's one allowed change by itself: how old
an address must be before it is replaced, and the key of the hash that replaces it.

The hash key is derived from SECRET_KEY for this one purpose, so the database (and its
backups) never hold the service's secret key itself. `store_policy` runs at the end of
every `penaltypay migrate`, as the schema's owner; the application's role cannot read or
change the table (penaltypay.operations.db_roles)."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper

HASHED = "h:"
_PURPOSE = b"penaltypay audit address hash v1"


def hash_key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), _PURPOSE, hashlib.sha256).digest()


def address_hash(address: str) -> str:
    """The same address always gives the same hash (records can still be matched); it
    cannot be reversed without the key."""
    return HASHED + hmac.new(hash_key(), address.encode(), hashlib.sha256).hexdigest()[:24]


def store_policy(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor != "postgresql":
        return  # elsewhere the model enforces the rule (penaltypay.audit.models)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_policy (id, address_days, hash_key) VALUES (1, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET address_days = EXCLUDED.address_days, hash_key = EXCLUDED.hash_key",
            [max(1, settings.RETENTION_AUDIT_ADDRESS_DAYS), hash_key()],
        )
