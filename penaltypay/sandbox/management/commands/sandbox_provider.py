from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the sandbox payment provider (GOV.UK Pay–compatible API, hosted card page, signed webhooks)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8082)
        parser.add_argument("--webhook-url", default="", help="where to send signed webhooks (none if empty)")

    def handle(self, *args, host, port, webhook_url, **options):
        from penaltypay.sandbox.pay_provider import main

        argv = ["--host", host, "--port", str(port), "--api-key", settings.PAY_API_KEY]
        if webhook_url:
            argv += ["--webhook-url", webhook_url, "--webhook-secret", settings.PAY_WEBHOOK_SECRET]
        main(argv)
