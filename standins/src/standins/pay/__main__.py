"""`python -m standins.pay`: run the sandbox payment provider in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from standins.pay.model import SandboxStateError
from standins.pay.provider import SandboxProvider

log = logging.getLogger("standins.pay")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m standins.pay", description="Run the sandbox payment provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument(
        "--card-port",
        type=int,
        default=None,
        help="serve the card page on this port of its own (a real provider's"
        " card page is on another host than its API)",
    )
    parser.add_argument("--api-key", action="append", dest="api_keys", help="accepted API key (repeatable)")
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--webhook-secret", default=None)
    parser.add_argument("--expiry-seconds", type=float, default=None, help="unfinished payments fail after this")
    parser.add_argument("--public-url", default=None, help="base URL browsers use to reach the sandbox")
    parser.add_argument("--webhook-retry-schedule", default=None, help="comma-separated seconds, e.g. 1,5,30")
    parser.add_argument(
        "--state-file", default=None, help="keep payments in this JSON file across restarts (default: memory only)"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    settings: dict = {}
    if args.api_keys:
        settings["api_keys"] = args.api_keys
    if args.webhook_url:
        settings["webhook_url"] = args.webhook_url
    if args.webhook_secret:
        settings["webhook_secret"] = args.webhook_secret
    if args.expiry_seconds is not None:
        settings["expiry_seconds"] = args.expiry_seconds
    if args.public_url:
        settings["public_url"] = args.public_url
    if args.webhook_retry_schedule:
        settings["webhook_retry_schedule"] = [float(s) for s in args.webhook_retry_schedule.split(",") if s.strip()]
    if args.state_file:
        settings["state_file"] = args.state_file
    try:
        sandbox = SandboxProvider(**settings)
    except ValueError as exc:
        parser.error(str(exc))
    except SandboxStateError as exc:
        # Already logged; exit non-zero so `penaltypay run` stops instead of running without the payments.
        raise SystemExit(f"sandbox payment provider not started: {exc}") from None
    url = sandbox.start(host=args.host, port=args.port, card_port=args.card_port)
    print(f"Sandbox payment provider running at {url} (Ctrl-C stops it)", flush=True)

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
