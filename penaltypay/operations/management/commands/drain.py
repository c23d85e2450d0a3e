"""`penaltypay drain`: the web pod's preStop hook (docs/runbook.md "Releases"). From now on
/readyz says "not ready", so the load balancer sends no new keeper here; the command then
waits WEB_DRAIN_SECONDS while requests already on their way still arrive and are served,
and returns. Kubernetes then sends SIGTERM and gunicorn finishes what it holds."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Take this web pod out of service for a stop: not ready at once, then wait for traffic to move away."

    def add_arguments(self, parser):
        parser.add_argument(
            "--seconds",
            type=float,
            default=None,
            help="how long to keep serving while traffic moves away (default WEB_DRAIN_SECONDS)",
        )

    def handle(self, *args, seconds=None, **options):
        settings.DRAIN_FILE.parent.mkdir(parents=True, exist_ok=True)
        settings.DRAIN_FILE.touch()
        self.stdout.write(
            f"draining: /readyz now answers 503; serving on for {seconds or settings.WEB_DRAIN_SECONDS:g} s"
        )
        time.sleep(settings.WEB_DRAIN_SECONDS if seconds is None else seconds)
