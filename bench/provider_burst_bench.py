"""Keepers paying at once against the provider's rate limit (issue: 400 keepers, 16 at a
time, the sandbox's default 15 creates a second).

Each keeper reads the penalty page for a moment (0.6–1.8 s: about 13 creates a second
on average, in bursts well over the limit) and presses "Pay": one
create at the sandbox provider. Run twice: with the client's retries after a 429 switched
off (how it was) and on (short jittered pauses within about 2 s). Prints, for each, how
many keepers reached the card page, how many were told to try later, the retries made and
the create times (p50/p99, including any retrying).

    .venv/bin/python bench/provider_burst_bench.py [--keepers 400] [--at-once 16]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time

from penaltypay.adapters.pay_api import PayClient
from penaltypay.payments.ports import ProviderRateLimited
from standins.pay import SandboxProvider


def run(sandbox: SandboxProvider, *, keepers: int, at_once: int, retries: bool, seed: int) -> dict:
    sandbox.reset()
    client_options = {} if retries else {"rate_limit_retries": 0}
    gate = threading.Semaphore(at_once)
    pace = random.Random(seed)
    served, refused, times = [], [], []
    lock = threading.Lock()
    retried = [0]

    def keeper(n: int, reading: float) -> None:
        with gate:
            time.sleep(reading)
            client = PayClient(sandbox.base_url, "sandbox-api-key", timeout=5, **client_options)
            original = client._request_once
            calls = [0]

            def counting(*args, **kwargs):
                calls[0] += 1
                return original(*args, **kwargs)

            client._request_once = counting  # count attempts for the figures (bench only)
            started = time.monotonic()
            try:
                client.create_payment(
                    amount=4000,
                    reference=f"PP-BNCH-{n:04d}",
                    description="Bench",
                    return_url="https://pay.example/return",
                )
                outcome = served
            except ProviderRateLimited:
                outcome = refused
            took = time.monotonic() - started
            with lock:
                outcome.append(n)
                times.append(took)
                retried[0] += calls[0] - 1
            client.close()

    threads = [threading.Thread(target=keeper, args=(n, pace.uniform(0.6, 1.8))) for n in range(keepers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times.sort()
    return {
        "served": len(served),
        "told to try later": len(refused),
        "retries": retried[0],
        "create p50 ms": round(statistics.median(times) * 1000),
        "create p99 ms": round(times[int(len(times) * 0.99) - 1] * 1000),
        "wall s": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keepers", type=int, default=400)
    parser.add_argument("--at-once", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sandbox = SandboxProvider()  # default settings: 15 creates a second
    sandbox.start()
    try:
        print(
            f"{args.keepers} keepers, {args.at_once} at a time, sandbox limit "
            f"{sandbox.settings()['rate_limit_per_second']}/s"
        )
        for label, retries in (("without retries (before)", False), ("with retries (now)", True)):
            figures = run(sandbox, keepers=args.keepers, at_once=args.at_once, retries=retries, seed=args.seed)
            print(f"  {label:26} {figures}")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
