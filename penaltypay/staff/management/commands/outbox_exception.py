from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from penaltypay.audit.log import record
from penaltypay.ecs.outbox import NotAnException, requeue_exception, resolve_exception
from penaltypay.staff.roles import OPERATIONS, held_roles


def _their_code(person: User, code: str) -> bool:
    """Whoever runs the command proves they are --by: the code only that person's app shows."""
    device = TOTPDevice.objects.filter(user=person, confirmed=True).first()
    return device is not None and bool(device.verify_token(code.strip()))


class Command(BaseCommand):
    help = (
        "Deal with an ECS outbox exception: `resolve` (handled outside this service, e.g. the keeper "
        "was refunded; never sent) or `requeue` (send again after a fix). --by is your staff username "
        "(an active account with the support or supervisor role) and --code the code your authenticator "
        "app shows now, which proves it is you; both are audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["resolve", "requeue"])
        parser.add_argument("event_id", type=int, help="the id from `penaltypay outbox-status --exceptions`")
        parser.add_argument("--by", required=True, help="your staff username")
        parser.add_argument("--code", required=True, help="the 6-digit code your authenticator app shows now")
        parser.add_argument("--note", required=True, help="why, and what was done (e.g. the refund reference)")

    def handle(self, *args, action, event_id, by, note, code, **options):
        def refuse(actor: str, detail: str, told: str) -> CommandError:
            record(
                actor[:150] or "-",
                f"outbox-{action}",
                actor_kind="command",
                object_type="outbox-event",
                object_id=str(event_id),
                outcome="refused",
                detail=detail[:200],
            )
            return CommandError(told)

        person = User.objects.filter(username=by.strip(), is_active=True, staff_profile__isnull=False).first()
        if person is None or not held_roles(person) & OPERATIONS:
            raise refuse(
                by.strip(),
                "not an active support or supervisor account",
                f"{by!r} is not an active staff account with the support or supervisor role "
                "(see `penaltypay staff list`)",
            )
        if not _their_code(person, code):
            raise refuse(
                person.username,
                "security code not right",
                f"that is not the code {person.username}'s authenticator app shows now",
            )
        act = resolve_exception if action == "resolve" else requeue_exception
        try:
            event = act(event_id, by=person.username, note=note)
        except (NotAnException, ValueError) as exc:
            raise refuse(person.username, str(exc), str(exc)) from None
        record(
            person.username,
            f"outbox-{action}",
            actor_kind="command",
            object_type="outbox-event",
            object_id=str(event.pk),
            detail=f"case {event.case_reference}",
        )
        self.stdout.write(f"outbox event {event.pk} (case {event.case_reference}) is now {event.status}")
