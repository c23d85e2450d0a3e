from django.conf import settings
from django.core.management.base import BaseCommand

STATE_FILE_NAME = "sandbox-provider-state.json"


class Command(BaseCommand):
    help = "Run the sandbox payment provider (GOV.UK Pay–compatible API, hosted card page, signed webhooks)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8082)
        parser.add_argument("--webhook-url", default="", help="where to send signed webhooks (none if empty)")
        parser.add_argument(
            "--state-file",
            default=None,
            help=f"keep payments in this JSON file across restarts (default: <VAR_DIR>/{STATE_FILE_NAME}; "
            '"" keeps them in memory only)',
        )

    def handle(self, *args, host, port, webhook_url, state_file, **options):
        from penaltypay.sandbox.pay_provider import main

        if state_file is None:
            state_file = str(settings.VAR_DIR / STATE_FILE_NAME)
        argv = ["--host", host, "--port", str(port), "--api-key", settings.PAY_API_KEY]
        if webhook_url:
            argv += ["--webhook-url", webhook_url, "--webhook-secret", settings.PAY_WEBHOOK_SECRET]
        if state_file:
            argv += ["--state-file", state_file]
        main(argv)
