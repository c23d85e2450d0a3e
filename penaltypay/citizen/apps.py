from django.apps import AppConfig


class CitizenConfig(AppConfig):
    name = "penaltypay.citizen"
    label = "citizen"
    default_auto_field = "django.db.models.BigAutoField"
