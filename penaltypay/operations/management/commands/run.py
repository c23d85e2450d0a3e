"""Run the whole service locally: web (gunicorn), worker, and — unless ECS_URL /
PAY_API_URL point elsewhere — the ECS simulator and the sandbox payment provider
as their own local servers. Ctrl-C stops everything."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

ECS_PORT = 8081
PAY_PORT = 8082


def _wait_for(url: str, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except Exception:
            time.sleep(0.2)
    return False


class Command(BaseCommand):
    help = "Run web, worker, ECS simulator and sandbox provider together (local use)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host="127.0.0.1", port=8000, **options):
        call_command("migrate", interactive=False, verbosity=0)
        env = dict(os.environ)
        children: list[tuple[str, subprocess.Popen]] = []
        cli = [sys.executable, "-m", "penaltypay.cli"]

        def spawn(name, argv, extra_env=None):
            proc = subprocess.Popen(argv, env={**env, **(extra_env or {})})
            children.append((name, proc))
            return proc

        if not os.environ.get("ECS_URL"):
            spawn("ecs-simulator", [*cli, "ecs_simulator", "--host", "127.0.0.1", "--port", str(ECS_PORT)])
            env["ECS_URL"] = f"http://127.0.0.1:{ECS_PORT}/ecs/v1"
            if not _wait_for(f"http://127.0.0.1:{ECS_PORT}/_control/health"):
                self.stderr.write("ECS simulator did not start")
        if not os.environ.get("PAY_API_URL"):
            spawn(
                "sandbox-provider",
                [
                    *cli, "sandbox_provider", "--host", "127.0.0.1", "--port", str(PAY_PORT),
                    "--webhook-url", f"http://{host}:{port}/webhooks/pay",
                ],
            )
            env["PAY_API_URL"] = f"http://127.0.0.1:{PAY_PORT}"
            if not _wait_for(f"http://127.0.0.1:{PAY_PORT}/_sandbox/health"):
                self.stderr.write("sandbox provider did not start")
        spawn("worker", [*cli, "worker"])
        spawn(
            "web",
            [
                sys.executable, "-m", "gunicorn", "penaltypay.wsgi:application",
                "--bind", f"{host}:{port}", "--workers", "2", "--threads", "4",
                "--access-logfile", "-",
            ],
        )
        self.stdout.write(self.style.SUCCESS(f"penaltypay is running at http://{host}:{port}/ (Ctrl-C stops it)"))
        self._print_samples()
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping:
                for name, proc in children:
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping")
                        stopping = True
                time.sleep(0.5)
        finally:
            for _, proc in reversed(children):
                if proc.poll() is None:
                    proc.terminate()
            for _, proc in children:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def _print_samples(self):
        if os.environ.get("ECS_URL"):
            return

        from penaltypay.sandbox.ecs_seed import describe_seed

        self.stdout.write("Sample penalties (reference, registration):")
        for reference, vrm, text in describe_seed():
            self.stdout.write(f"  {reference}  {vrm:8}  {text}")
        self.stdout.write(f"Test card: 4444 3333 2222 1111, any future expiry, any 3-digit code. Mail: {settings.EMAIL_FILE_PATH}")
