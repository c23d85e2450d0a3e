from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API for other channels at /api/v1/ (ADR 0014)."""

    name = "penaltypay.api"
    label = "api"
    default_auto_field = "django.db.models.BigAutoField"
