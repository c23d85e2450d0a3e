from django.apps import AppConfig


class ReportingConfig(AppConfig):
    """Reports and the GOV.UK Service Standard KPIs, and the keepers' feedback they need."""

    name = "penaltypay.reporting"
    label = "reporting"
    default_auto_field = "django.db.models.BigAutoField"
