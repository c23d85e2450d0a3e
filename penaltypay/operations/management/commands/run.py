"""Run the whole service locally: web (gunicorn), worker, and — unless ECS_URL /
PAY_API_URL point elsewhere — the ECS simulator and the sandbox payment provider as
their own local servers (`python -m standins.ecs`, `python -m standins.pay`, from the
separate stand-ins package: penaltypay never imports it). A child that dies is
restarted while the others keep serving; Ctrl-C stops everything. Local use only:
production runs the web and worker commands under its own process manager."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from penaltypay.operations.supervisor import Supervisor
from penaltypay.operations.web_command import gunicorn_argv

ECS_PORT = 8081
PAY_PORT = 8082
SANDBOX_STATE_FILE = "sandbox-provider-state.json"


def _wait_for(url: str, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own http://127.0.0.1 URL
                return True
        except Exception:
            time.sleep(0.2)
    return False


class Command(BaseCommand):
    help = "Run web, worker, ECS simulator and sandbox provider together (local use only)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host="127.0.0.1", port=8000, **options):
        if settings.PRODUCTION:
            raise CommandError(
                "`penaltypay run` is the local all-in-one; in production run `penaltypay web` "
                "and `penaltypay worker` under the platform's process manager (docs/runbook.md)."
            )
        call_command("migrate", interactive=False, verbosity=0)
        env = dict(os.environ)
        supervisor = Supervisor()
        needs_standins = not env.get("ECS_URL") or not env.get("PAY_API_URL")
        if needs_standins and importlib.util.find_spec("standins") is None:
            raise CommandError(
                "the local stand-ins are not installed (run `make install`), "
                "or set ECS_URL and PAY_API_URL to real servers"
            )
        if not env.get("ECS_URL"):
            supervisor.add(
                "ecs-simulator",
                [sys.executable, "-m", "standins.ecs", "--host", "127.0.0.1", "--port", str(ECS_PORT)],
                env,
            )
            env["ECS_URL"] = f"http://127.0.0.1:{ECS_PORT}/ecs/v1"
            if not _wait_for(f"http://127.0.0.1:{ECS_PORT}/_control/health"):
                self.stderr.write("ECS simulator did not start")
        if not env.get("PAY_API_URL"):
            supervisor.add(
                "sandbox-provider",
                [
                    sys.executable,
                    "-m",
                    "standins.pay",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(PAY_PORT),
                    "--api-key",
                    settings.PAY_API_KEY,
                    "--webhook-url",
                    f"http://{host}:{port}/webhooks/pay",
                    "--webhook-secret",
                    settings.PAY_WEBHOOK_SECRET,
                    "--state-file",
                    str(settings.VAR_DIR / SANDBOX_STATE_FILE),
                ],
                env,
            )
            env["PAY_API_URL"] = f"http://127.0.0.1:{PAY_PORT}"
            if not _wait_for(f"http://127.0.0.1:{PAY_PORT}/_sandbox/health"):
                self.stderr.write("sandbox provider did not start")
        cli = [sys.executable, "-m", "penaltypay.cli"]
        # Locally a dispute lives two minutes: search for them every minute too (webhooks may be lost).
        env.setdefault("DISPUTE_SYNC_SECONDS", "60")
        supervisor.add("worker", [*cli, "worker"], env)
        supervisor.add("web", gunicorn_argv(f"{host}:{port}", access_log=True), env)
        self.stdout.write(self.style.SUCCESS(f"penaltypay is running at http://{host}:{port}/ (Ctrl-C stops it)"))
        self.stdout.write(
            f"Test card: 4444 3333 2222 1111, any future expiry, any 3-digit code. Mail: {settings.EMAIL_FILE_PATH}"
        )
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping:
                supervisor.check()
                time.sleep(0.5)
        finally:
            supervisor.stop_all()
