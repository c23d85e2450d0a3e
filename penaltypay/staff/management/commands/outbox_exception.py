from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from penaltypay.audit.log import record
from penaltypay.ecs.outbox import NotAnException, requeue_exception, resolve_exception
from penaltypay.staff.roles import OPERATIONS, held_roles


class Command(BaseCommand):
    help = (
        "Deal with an ECS outbox exception: `resolve` (handled outside this service, e.g. the keeper "
        "was refunded; never sent) or `requeue` (send again after a fix). --by is your staff username "
        "(an active account with the support or supervisor role); both are audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["resolve", "requeue"])
        parser.add_argument("event_id", type=int, help="the id from `penaltypay outbox-status --exceptions`")
        parser.add_argument("--by", required=True, help="your staff username")
        parser.add_argument("--note", required=True, help="why, and what was done (e.g. the refund reference)")

    def handle(self, *args, action, event_id, by, note, **options):
        person = User.objects.filter(username=by.strip(), is_active=True, staff_profile__isnull=False).first()
        if person is None or not held_roles(person) & OPERATIONS:
            record(
                by.strip()[:150] or "-",
                f"outbox-{action}",
                actor_kind="command",
                object_type="outbox-event",
                object_id=str(event_id),
                outcome="refused",
                detail="not an active support or supervisor account",
            )
            raise CommandError(
                f"{by!r} is not an active staff account with the support or supervisor role "
                "(see `penaltypay staff list`)"
            )
        act = resolve_exception if action == "resolve" else requeue_exception
        try:
            event = act(event_id, by=person.username, note=note)
        except (NotAnException, ValueError) as exc:
            record(
                person.username,
                f"outbox-{action}",
                actor_kind="command",
                object_type="outbox-event",
                object_id=str(event_id),
                outcome="refused",
                detail=str(exc)[:200],
            )
            raise CommandError(str(exc)) from None
        record(
            person.username,
            f"outbox-{action}",
            actor_kind="command",
            object_type="outbox-event",
            object_id=str(event.pk),
            detail=f"case {event.case_reference}",
        )
        self.stdout.write(f"outbox event {event.pk} (case {event.case_reference}) is now {event.status}")
