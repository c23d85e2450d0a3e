"""The background worker: the ECS outbox, the extract drop folder and every app's periodic
jobs (`penaltypay worker --help` lists them all, from the code). Several workers may run at
once against PostgreSQL, each periodic job in one of them at a time; on SQLite run one."""

from __future__ import annotations

import signal
import threading
from argparse import RawDescriptionHelpFormatter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection

from penaltypay.operations.background import DropFolderWatch, build_outbox_worker, worker_parts
from penaltypay.operations.db_roles import problem_at_start
from penaltypay.operations.jobs import run_periodic_jobs


class Command(BaseCommand):
    help = "Run the background worker."

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        parser.epilog = "What it runs:\n" + "\n".join(
            f"  {part.name:<20} {part.what}\n  {'':<20} when: {part.cadence}" for part in worker_parts()
        )
        return parser

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="one pass of the periodic jobs, deliver what is due now, and exit"
        )
        parser.add_argument("--interval", type=float, default=15.0, help="seconds between passes of the periodic jobs")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="cases delivered to ECS at once (default ECS_OUTBOX_CONCURRENCY)",
        )
        parser.add_argument("--no-outbox", action="store_true", help="do not deliver the ECS outbox")

    def handle(self, *args, once=False, interval=15.0, concurrency=None, no_outbox=False, **options):
        if settings.PRODUCTION and (problem := problem_at_start(connection)):
            raise CommandError(f"refusing to start: {problem}")
        stop = threading.Event()

        def on_signal(signum, frame):
            stop.set()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
        outbox = build_outbox_worker(concurrency)
        drop_folder = DropFolderWatch()
        if once:
            run_periodic_jobs()
            drop_folder.run_pass(force=True)
            if not no_outbox:
                outbox.run(stop, until_idle=True)
            return
        delivering = None
        if not no_outbox:
            delivering = threading.Thread(target=outbox.run, args=(stop,), name="outbox", daemon=True)
            delivering.start()
        while not stop.is_set():
            # A connection the database dropped (restart, failover) is replaced, not reused.
            close_old_connections()
            run_periodic_jobs()
            drop_folder.run_pass()
            stop.wait(interval)
        if delivering is not None:
            delivering.join(timeout=settings.ECS_WRITE_TIMEOUT + 5)
