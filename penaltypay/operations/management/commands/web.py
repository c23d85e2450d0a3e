"""`penaltypay web`: the web tier as production runs it (gunicorn; see docs/runbook.md)."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from penaltypay.operations.db_roles import problem_at_start
from penaltypay.operations.web_command import gunicorn_argv


class Command(BaseCommand):
    help = "Run the web tier (gunicorn) on --bind (default 0.0.0.0:8000)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("WEB_BIND", "0.0.0.0:8000"))
        parser.add_argument("--access-log", action="store_true", help="write an access log to standard output")

    def handle(self, *args, bind, access_log, **options):
        if settings.PRODUCTION and (problem := problem_at_start(connection)):
            raise CommandError(f"refusing to start: {problem}")
        # A drain left by this pod's previous container (its /tmp outlives it) must not keep
        # the new one out of service.
        settings.DRAIN_FILE.unlink(missing_ok=True)
        argv = gunicorn_argv(bind, access_log=access_log)
        os.execv(argv[0], argv)  # noqa: S606 - our own argv: this process becomes the server
