"""Settings for importer subprocesses in tests: every file takes the bulk COPY path."""

from penaltypay.settings import *  # noqa: F401,F403

EXTRACT_BULK_MIN_RECORDS = 0
