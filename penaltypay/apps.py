from django.apps import AppConfig


class WiringConfig(AppConfig):
    """Wires every outward port once the apps are loaded (penaltypay.wiring)."""

    name = "penaltypay"
    label = "penaltypay_wiring"

    def ready(self) -> None:
        from penaltypay.wiring import wire_ports

        wire_ports()
