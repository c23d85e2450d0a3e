"""`penaltypay api-client add NAME --scope … [--json] | list [--json] | revoke NAME`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from penaltypay.api.clients import SCOPES, ClientError, add_client, revoke_client
from penaltypay.api.models import ApiClient
from penaltypay.audit.log import record


class Command(BaseCommand):
    help = "API clients: add (prints the token once), list, revoke."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add")
        add.add_argument("name")
        add.add_argument("--scope", action="append", required=True, choices=SCOPES)
        add.add_argument("--rate-limit", type=int, default=120, help="requests a minute")
        add.add_argument("--json", action="store_true")
        listing = actions.add_parser("list")
        listing.add_argument("--json", action="store_true")
        revoke = actions.add_parser("revoke")
        revoke.add_argument("name")

    def handle(self, *args, action, **options):
        try:
            getattr(self, "_" + action)(**options)
        except ClientError as error:
            raise CommandError(str(error)) from None

    def _add(self, name, scope, rate_limit, json=False, **options):
        made = add_client(name, scope, rate_limit)
        record(
            "command line",
            "add-api-client",
            actor_kind="command",
            object_type="api-client",
            object_id=name,
            detail="scopes " + ",".join(made.client.scopes),
        )
        out = {
            "name": made.client.name,
            "client_id": made.client.client_id,
            "token": made.token,
            "scopes": made.client.scopes,
        }
        self.stdout.write(_dumps(out) if json else f"added {name}; token (shown once): {made.token}")

    def _list(self, json=False, **options):
        clients = [
            {
                "name": c.name,
                "client_id": c.client_id,
                "scopes": c.scopes,
                "rate_limit_per_minute": c.rate_limit_per_minute,
                "revoked": c.revoked_at is not None,
            }
            for c in ApiClient.objects.order_by("name")
        ]
        text = "\n".join(
            f"{c['name']}\t{','.join(c['scopes'])}\t{'revoked' if c['revoked'] else 'active'}" for c in clients
        )
        self.stdout.write(_dumps(clients) if json else text or "no API clients")

    def _revoke(self, name, **options):
        revoke_client(name)
        record("command line", "revoke-api-client", actor_kind="command", object_type="api-client", object_id=name)
        self.stdout.write(f"revoked {name}: its token is refused from now on")


def _dumps(value) -> str:
    return json.dumps(value)
