"""Adapters: the edge where penaltypay meets systems it does not own. Each implements a
port its domain app defines and raises that port's error family:

- `ecs_soap` — ECS over SOAP (zeep): `cases.ports.CaseSource`, `ecs.ports.EcsLedger`;
- `pay_api` — the payment provider's REST API: `payments.ports.PaymentProvider`;
- `notify` — receipt emails (GOV.UK Notify, or Django email locally): `payments.ports.ReceiptSender`;
- `factories` — the one place each is built from settings.

Only interfaces (pages, commands, the worker) import this package; domain apps never do.
"""
