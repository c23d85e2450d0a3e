import json

from django.core.management.base import BaseCommand

from penaltypay.ecs import deliveries
from penaltypay.ecs.outbox import backlog


class Command(BaseCommand):
    help = "Show the ECS outbox backlog: waiting events, the oldest one's age, exceptions, the breaker."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object")
        parser.add_argument("--exceptions", action="store_true", help="list the events stopped for a person")

    def handle(self, *args, as_json=False, exceptions=False, **options):
        status = backlog()
        listed: list[dict] = []
        if exceptions:
            listed = [
                {
                    "id": event.id,
                    "case_reference": event.case_reference,
                    "kind": event.kind,
                    "payment_reference": event.payment_reference,
                    "refund_reference": event.refund_reference,
                    "amount_pence": event.amount_pence,
                    "exception_reason": event.exception_reason,
                    "last_error": event.last_error,
                }
                for event in deliveries.exceptions()
            ]
        if as_json:
            self.stdout.write(json.dumps({**status.as_dict(), **({"exception_events": listed} if exceptions else {})}))
            return
        self.stdout.write(f"waiting:              {status.waiting}")
        self.stdout.write(f"oldest waiting:       {status.oldest_waiting_seconds:.0f} s")
        self.stdout.write(f"exceptions:           {status.exceptions}")
        self.stdout.write(f"blocked by exception: {status.blocked_by_exception}")
        self.stdout.write(f"breaker:              {status.breaker_state}")
        self.stdout.write(f"sent (all time):      {status.sent_total}")
        for event in listed:
            self.stdout.write(
                f"  #{event['id']} case {event['case_reference']} {event['kind']} {event['payment_reference']}"
                f"{' ' + event['refund_reference'] if event['refund_reference'] else ''} "
                f"{event['amount_pence']}p: {event['exception_reason']}"
            )
