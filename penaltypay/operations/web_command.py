"""The web tier's command line, in one place: `penaltypay web` (production) and
`penaltypay run` (local) start the same server the same way."""

from __future__ import annotations

import os
import sys


def gunicorn_argv(bind: str, *, access_log: bool = False) -> list[str]:
    workers = os.environ.get("WEB_WORKERS", "2")
    threads = os.environ.get("WEB_THREADS", "4")
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "penaltypay.wsgi:application",
        "--bind",
        bind,
        "--workers",
        workers,
        "--threads",
        threads,
    ]
    if access_log:
        argv += ["--access-logfile", "-"]
    return argv
