from django.apps import AppConfig


class WebConfig(AppConfig):
    """Templates both the keepers' pages and the back office use (GOV.UK macros)."""

    name = "penaltypay.web"
    label = "web"
