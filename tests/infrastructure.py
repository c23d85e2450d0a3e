"""Infrastructure a test may stop and start: a Redis of its own, and the machine's
PostgreSQL restarted as an operator (or a failover) would."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A Redis of this test's own, so that stopping it disturbs nobody else."""

    def __init__(self):
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            # Its own clock (a shifted-clock run's libfaketime does not suit it): its counts
            # expire by their own timeouts, whatever the date.
            env={k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")},
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


def postgresql_cluster() -> tuple[str, str] | None:
    """(version, name) of the machine's PostgreSQL cluster when this process may restart it."""
    if shutil.which("pg_ctlcluster") is None or os.geteuid() != 0:
        return None
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*") if (p / "main").is_dir())
    return (versions[-1], "main") if versions else None


def restart_postgresql(server_url: str = "postgres://postgres@127.0.0.1:5432/postgres") -> float:
    """Restart the machine's PostgreSQL (fast shutdown: every session is cut, as in a
    failover) and wait until it accepts connections again. Returns the seconds it was away."""
    cluster = postgresql_cluster()
    assert cluster is not None, "cannot restart PostgreSQL here"
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "restart", "-m", "fast"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            psycopg.connect(server_url, connect_timeout=2).close()
            return time.monotonic() - started
        except psycopg.OperationalError:
            time.sleep(0.2)
    raise AssertionError("PostgreSQL did not come back")


def start_web(
    env: dict, log_path: Path, *, workers: int = 1, threads: int = 2, cwd: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """`penaltypay web` (gunicorn, as production starts it) on a free port; returns the
    process and its base URL once /healthz answers."""
    import sys

    import requests

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "penaltypay.cli", "web", "--bind", f"127.0.0.1:{port}"],
        env={**env, "WEB_WORKERS": str(workers), "WEB_THREADS": str(threads)},
        stdout=open(log_path, "wb"),  # noqa: SIM115 - the process owns it until it ends
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=cwd,  # another release's tree: its own code runs
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text()[-3000:]
        try:
            requests.get(f"{base}/healthz", timeout=5)
            return process, base
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still booting
            time.sleep(0.2)
    raise AssertionError("penaltypay web did not start")


def stop_web(process: subprocess.Popen) -> None:
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def database_url() -> str:
    """The URL of the database this test run uses, for processes the test starts."""
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgresql://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class TcpProxy:
    """A load balancer (or the network to the database) a test controls: each connection is
    passed to the next of `backends` in turn; with none, connections are refused. `cut()`
    drops every connection open now, as a database restart or a stopped pod would."""

    def __init__(self, backends: list[tuple[str, int]]):
        import itertools
        import threading

        self.backends = list(backends)
        self._turn = itertools.count()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            backends = list(self.backends)
            if not backends:
                client.close()
                continue
            try:
                upstream = socket.create_connection(backends[next(self._turn) % len(backends)], timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()
                with self._lock:
                    self._open.discard(end)

    def cut(self) -> None:
        with self._lock:
            ends = list(self._open)
        for end in ends:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._server.close()
        self.cut()


def service_env(*, database_url: str, ecs, provider, redis_url: str, home: Path, extra: dict | None = None) -> dict:
    """`penaltypay web` and `penaltypay worker` as production runs them, against this test's
    stand-ins: ECS retried quickly, payments re-checked every 5 s, the look-up limits out of
    the way (every keeper comes from this one machine), files under `home`."""
    from standins.chaos import worker_env
    from tests.providers import API_KEY, WEBHOOK_SECRET

    home.mkdir(parents=True, exist_ok=True)
    return worker_env(
        database_url=database_url,
        ecs_url=ecs.url,
        write_timeout=2.0,
        lease_seconds=5.0,
        backoff_base=0.2,
        backoff_cap=2.0,
        breaker_min_open=0.5,
        breaker_max_open=2.0,
        settle_seconds=3.0,
        extra={
            "PAY_API_URL": provider.base_url,
            "PAY_API_KEY": API_KEY,
            "PAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "REDIS_URL": redis_url,
            "PAYMENT_RECHECK_AFTER_SECONDS": "5",
            "PENALTYPAY_VAR_DIR": str(home / "var"),
            "PROMETHEUS_MULTIPROC_DIR": str(home / "prometheus"),
            "PENALTYPAY_DRAIN_FILE": str(home / "draining"),
            "DEBUG": "0",
            "TRUSTED_PROXY_COUNT": "1",
            "LOOKUP_RATE_LIMIT_PER_ADDRESS": "1000",
            "LOOKUP_RATE_LIMIT_PER_REFERENCE": "1000",
            **(extra or {}),
        },
    )
