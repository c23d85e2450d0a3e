from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Local stand-ins for the systems we do not own. Installed only outside production."""

    name = "penaltypay.sandbox"
    label = "sandbox"
