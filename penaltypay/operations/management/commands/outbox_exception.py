from django.core.management.base import BaseCommand, CommandError

from penaltypay.ecs.outbox import NotAnException, requeue_exception, resolve_exception


class Command(BaseCommand):
    help = (
        "Deal with an ECS outbox exception: `resolve` (handled outside this service, e.g. the keeper "
        "was refunded; never sent) or `requeue` (send again after a fix). Both are audited."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["resolve", "requeue"])
        parser.add_argument("event_id", type=int, help="the id from `penaltypay outbox-status --exceptions`")
        parser.add_argument("--by", required=True, help="who is doing this")
        parser.add_argument("--note", required=True, help="why, and what was done (e.g. the refund reference)")

    def handle(self, *args, action, event_id, by, note, **options):
        act = resolve_exception if action == "resolve" else requeue_exception
        try:
            event = act(event_id, by=by, note=note)
        except (NotAnException, ValueError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"outbox event {event.pk} (case {event.case_reference}) is now {event.status}")
