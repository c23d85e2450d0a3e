"""`python -m standins.ecs`: run the ECS simulator in the foreground (see the package docstring)."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from datetime import date
from typing import Any

from standins.ecs.faults import FaultPlan, parse_latency
from standins.ecs.seed import describe_seed
from standins.ecs.server import EcsSimulator


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8081,
    *,
    faults: dict[str, Any] | None = None,
    control_port: int | None = None,
    **options: Any,
) -> None:
    """Run a simulator in the foreground until interrupted (Ctrl-C / SIGINT).

    `options` go to EcsSimulator (today, username, password, wsdl_path);
    `faults` is the starting fault plan (the control API can change it, and
    /_control/reset clears it).
    """
    simulator = EcsSimulator(**options)
    simulator.start(host, port, control_port=control_port)
    if faults:
        simulator.set_faults(**faults)
    _stop_on_sigterm()
    print(f"ECS simulator: SOAP endpoint {simulator.url}", flush=True)
    print(f"               WSDL          {simulator.url}?wsdl", flush=True)
    print(f"               control API   {simulator.control_url}/health", flush=True)
    print(f"               seed date     {simulator.today.isoformat()}", flush=True)
    if faults:
        print(f"               faults        {simulator.faults.to_dict()}", flush=True)
    for reference, vrm, description in describe_seed():
        print(f"  {reference}  {vrm:<7}  {description}", flush=True)
    try:
        simulator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()


def _stop_on_sigterm() -> None:
    """Let `docker stop`, `kill` and process managers stop the simulator as cleanly as Ctrl-C does."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals to whoever embeds us
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m standins.ecs", description="Run the ECS SOAP simulator.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (default 8081; 0 = any free port)")
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="seed the cases as if today were YYYY-MM-DD (default: today in London)",
    )
    parser.add_argument("--username", default=None, help="require HTTP Basic auth with this username")
    parser.add_argument("--password", default=None, help="... and this password")
    parser.add_argument(
        "--latency-ms", default=None, help="inject latency on SOAP calls: N or MIN-MAX milliseconds (e.g. 200-800)"
    )
    parser.add_argument(
        "--control-port",
        type=int,
        default=None,
        help="also serve the control API alone on this port (0 = any free port); it keeps "
        "working while the SOAP port refuses connections",
    )
    parser.add_argument(
        "--faults",
        default=None,
        help='starting fault plan as JSON, e.g. \'{"latency_ms": [200, 800], "tail_ms": 3000}\'',
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    faults: dict[str, Any] = {}
    if args.faults:
        try:
            faults = json.loads(args.faults)
            FaultPlan.from_dict(faults)
        except (json.JSONDecodeError, ValueError) as exc:
            parser.error(f"--faults: {exc}")
    if args.latency_ms:
        low, _, high = args.latency_ms.partition("-")
        try:
            faults["latency_ms"] = list(parse_latency([int(low), int(high or low)]))
        except ValueError as exc:
            parser.error(f"--latency-ms: {exc}")
    serve_forever(
        args.host,
        args.port,
        faults=faults,
        control_port=args.control_port,
        today=args.today,
        username=args.username,
        password=args.password,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
