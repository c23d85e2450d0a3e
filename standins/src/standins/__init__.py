"""Local stand-ins for the systems penaltypay talks to: the ECS simulator (`standins.ecs`)
and the sandbox payment provider (`standins.pay`), plus the outbox chaos harness
(`standins.chaos`).

Never part of penaltypay: a separate distribution (`standins/pyproject.toml`),
installed by `make install` for local runs, tests and benchmarks, and absent from a
production install. penaltypay never imports it; `penaltypay run` starts the stand-ins
as processes (`python -m standins.ecs`, `python -m standins.pay`).
"""
