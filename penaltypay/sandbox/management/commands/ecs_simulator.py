from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the ECS simulator (a real SOAP 1.1 server implementing the ECS WSDL, with fault injection)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8081)

    def handle(self, *args, host, port, **options):
        from penaltypay.sandbox.ecs_simulator import main

        main(["--host", host, "--port", str(port)])
