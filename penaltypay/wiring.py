"""The one place every outward port is wired to its adapter (each built only by
penaltypay.adapters.factories, from settings that may name only our own adapters).

A port is a `kernel.wiring.Wire` declared beside the code that uses it; pages, the API,
commands and the worker's jobs all look ports up the same way, by calling the wire. Run once
per process, when Django starts (penaltypay.apps.WiringConfig)."""

from __future__ import annotations


def wire_ports() -> None:
    from penaltypay.adapters import factories
    from penaltypay.cases import ports as cases
    from penaltypay.ecs import ports as ecs
    from penaltypay.exceptions import alerts
    from penaltypay.payments import ports as payments
    from penaltypay.payments import receipts
    from penaltypay.reminders import service as reminders
    from penaltypay.staff import links as staff

    payments.payment_provider.use(factories.payment_provider)  # the card payments provider (GOV.UK Pay's API)
    cases.ecs_for_lookups.use(factories.ecs_for_lookups)  # ECS, a keeper's look-up: short timeout
    ecs.ecs_for_delivery.use(factories.ecs_for_delivery)  # ECS, writes and ledgers: the worker's timeout
    receipts.receipt_sender.use(factories.receipt_sender)  # receipts to payers (Notify or files)
    reminders.reminder_sender.use(factories.reminder_sender)  # reminders to keepers: the receipts' sender
    alerts.team_email.use(factories.team_email)  # the service team's email
    staff.staff_mail.use(factories.staff_mail)  # invitations and notices to staff
