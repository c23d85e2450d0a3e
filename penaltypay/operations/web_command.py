"""The web tier's command line, in one place: `penaltypay web` (production) and
`penaltypay run` (local) start the same server the same way (docs/adr/0010): gunicorn's
threaded workers, WEB_WORKERS processes (one per core) of WEB_THREADS threads each."""

from __future__ import annotations

import os
import sys

from penaltypay.web.limits import LIMIT_REQUEST_FIELD_SIZE, LIMIT_REQUEST_LINE


def gunicorn_argv(bind: str, *, access_log: bool = False) -> list[str]:
    workers = os.environ.get("WEB_WORKERS", "2")
    threads = os.environ.get("WEB_THREADS", "16")
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
        "--worker-class",
        "gthread",
        "--limit-request-line",
        str(LIMIT_REQUEST_LINE),
        "--limit-request-field_size",
        str(LIMIT_REQUEST_FIELD_SIZE),
        # On SIGTERM: stop accepting, finish the requests held, within this many seconds.
        "--graceful-timeout",
        os.environ.get("WEB_GRACEFUL_SECONDS", "25"),
    ]
    if access_log:
        argv += ["--access-logfile", "-"]
    return argv
