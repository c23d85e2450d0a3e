"""Citizen pages under load while ECS is instant, slow, and hanging (docs/adr/0010).

Starts the service the production way (`penaltypay web`: gunicorn, PostgreSQL, Redis,
DEBUG off) with the ECS simulator and the sandbox provider as their own processes, fills
the local case store with the sample cases (as the nightly extract would), then runs U
keepers with keep-alive connections, each looping: start page, find page, look-up,
penalty page, pay page. Three runs of S seconds: ECS instant; ECS at 200–800 ms with a
3 s tail on 1 % of calls (the ICD's normal range and p99); ECS hanging (every call times
out). Prints per page p50/p99, requests a second and errors for each run, and the
ratios slow/instant and hanging/instant.

Errors are answers ≥ 500 except the deliberate 503s of a look-up ("busy, try again in a
minute" when the bulkhead is full and the case is not held; "cannot find your penalty at
the moment" when ECS cannot answer and the case is not held), and failed connections.

    .venv/bin/python bench/citizen_load_bench.py [--keepers 200] [--seconds 30] \\
        [--workers 2] [--threads 16] [--lookup-concurrency 8]

Needs the local PostgreSQL and Redis. The load generator shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_SERVER_URL, REPO, SimulatorProcess, fresh_database  # noqa: E402

PAGES = ("start", "find", "lookup", "penalty", "pay")
NO_ECS_PAGES = ("start", "find", "penalty", "pay")
# (reference, registration) of the seeded cases a keeper can pay.
CASES = [
    ("70000123", "BD51SMR"),
    ("70000246", "LK68HVW"),
    ("70000369", "YR15TNO"),
    ("29000481", "MA17PZL"),
    ("29001406", "ML21OKA"),
    ("14400517", "GX20LNE"),
    ("14400628", "WP66RTY"),
    ("14401399", "T5"),
    ("70001292", "PO18ZXC"),
]
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class Connection:
    """One keep-alive HTTP/1.1 connection (just enough of HTTP for our own pages)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b""):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise ConnectionError(f"not an HTTP answer: {status_line[:40]!r}")
        status = int(parts[1])
        answer: dict[str, list[str]] = defaultdict(list)
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            answer[name.strip().lower()].append(value.strip())
        if "chunked" in ",".join(answer.get("transfer-encoding", [])).lower():
            content = b""
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                content += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
        else:
            length = int(answer.get("content-length", ["0"])[0])
            content = await self.reader.readexactly(length) if length else b""
        if "close" in ",".join(answer.get("connection", [])).lower():
            await self.close()
        return status, answer, content

    async def close(self):
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


class Keeper:
    def __init__(self, number: int, host: str, port: int, results: dict):
        self.connection = Connection(host, port)
        self.cookies: dict[str, str] = {}
        self.address = f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
        self.case = CASES[number % len(CASES)]
        self.results = results

    async def call(self, page: str, method: str, path: str, form: dict | None = None):
        headers = {"X-Forwarded-For": self.address}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            status, answer, content = await self.connection.request(method, path, headers, body)
        except (OSError, ConnectionError, asyncio.IncompleteReadError):
            await self.connection.close()
            self.results[page].append((time.perf_counter() - started, 0))
            return 0, b""
        self.results[page].append((time.perf_counter() - started, status))
        for cookie in answer.get("set-cookie", []):
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return status, content

    async def loop(self, until: float):
        while time.monotonic() < until:
            await self.call("start", "GET", "/")
            status, content = await self.call("find", "GET", "/find-your-penalty")
            token = CSRF.search(content)
            if not token:
                continue
            reference, registration = self.case
            await self.call(
                "lookup",
                "POST",
                "/find-your-penalty",
                {"csrfmiddlewaretoken": token.group(1).decode(), "reference": reference, "registration": registration},
            )
            await self.call("penalty", "GET", "/your-penalty")
            await self.call("pay", "GET", "/pay")
        await self.connection.close()


async def load(host: str, port: int, keepers: int, seconds: float) -> tuple[dict, float]:
    results: dict = defaultdict(list)
    until = time.monotonic() + seconds
    started = time.monotonic()
    await asyncio.gather(*(Keeper(n, host, port, results).loop(until) for n in range(keepers)))
    return results, time.monotonic() - started


def summarise(results: dict, wall: float) -> dict:
    out = {"requests/s": round(sum(len(v) for v in results.values()) / wall, 1), "pages": {}}
    errors = 0
    for page in PAGES:
        samples = results.get(page, [])
        times = sorted(t for t, _ in samples)
        if not times:
            continue
        bad = [s for _, s in samples if s == 0 or s >= 500]
        deliberate = [s for s in bad if s == 503 and page == "lookup"]
        errors += len(bad) - len(deliberate)
        out["pages"][page] = {
            "n": len(times),
            "p50 ms": round(statistics.median(times) * 1000),
            "p99 ms": round(times[max(0, int(len(times) * 0.99) - 1)] * 1000),
            "busy 503": len(deliberate),
        }
    out["errors"] = errors
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url_host: str, port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((url_host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listening on {url_host}:{port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keepers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "16")))
    parser.add_argument("--lookup-concurrency", type=int, default=8, help="ECS_LOOKUP_CONCURRENCY per process")
    parser.add_argument("--runs", default="instant,slow,hanging")
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--database", default="penaltypay_bench_citizen")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="citizen-bench-"))
    print(
        f"{args.keepers} keepers, {args.seconds:.0f} s a run; web: {args.workers} workers x {args.threads} "
        f"threads, look-up bulkhead {args.lookup_concurrency}/process; logs in {logs}",
        flush=True,
    )
    simulator = SimulatorProcess(log_path=logs / "ecs.log")
    with fresh_database(args.server_url, args.database) as database_url:
        from penaltypay.adapters.ecs_soap import EcsClient
        from penaltypay.cases.store import remember_case

        ecs = EcsClient(simulator.url, timeout=10)
        for reference, registration in CASES:  # what the nightly extract would have stored
            remember_case(ecs.get_case(reference, registration))
        port = free_port()
        env = {
            **os.environ,
            "PENALTYPAY_ENV": "test",
            "DEBUG": "0",
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "ECS_URL": simulator.url,
            "LOG_LEVEL": "ERROR",
            "WEB_WORKERS": str(args.workers),
            "WEB_THREADS": str(args.threads),
            "ECS_LOOKUP_CONCURRENCY": str(args.lookup_concurrency),
            "TRUSTED_PROXY_COUNT": "1",
            "LOOKUP_RATE_LIMIT_PER_ADDRESS": "1000000",
            "LOOKUP_RATE_LIMIT_PER_REFERENCE": "1000000",
            "PENALTYPAY_VAR_DIR": str(logs / "var"),
            "DATABASE_CONN_MAX_AGE": "600",
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        web = subprocess.Popen(
            [sys.executable, "-m", "penaltypay.cli", "web", "--bind", f"127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            stdout=open(logs / "web.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for("127.0.0.1", port)
            asyncio.run(load("127.0.0.1", port, 10, 3))  # warm up every process
            plans = {
                "instant": {},
                "slow": {"latency_ms": [200, 800], "tail_ms": [3000, 3000], "tail_probability": 0.01},
                "hanging": {"latency_ms": [30000, 30000], "hang_seconds": 35},
            }
            summaries = {}
            for run in args.runs.split(","):
                simulator.set_faults(**plans[run])
                results, wall = asyncio.run(load("127.0.0.1", port, args.keepers, args.seconds))
                summaries[run] = summarise(results, wall)
                print(f"\n{run}: {summaries[run]['requests/s']} requests/s, errors {summaries[run]['errors']}")
                for page, figures in summaries[run]["pages"].items():
                    print(f"  {page:8} {figures}")
            base = summaries.get("instant")
            for run in ("slow", "hanging"):
                if base and run in summaries:
                    ratios = {
                        page: round(summaries[run]["pages"][page]["p99 ms"] / max(1, base["pages"][page]["p99 ms"]), 2)
                        for page in NO_ECS_PAGES
                        if page in summaries[run]["pages"]
                    }
                    print(f"\np99 {run}/instant, pages without an ECS call: {ratios}")
        finally:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=30)
            simulator.stop()


if __name__ == "__main__":
    main()
