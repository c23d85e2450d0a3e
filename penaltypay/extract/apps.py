from django.apps import AppConfig


class ExtractConfig(AppConfig):
    name = "penaltypay.extract"
    label = "extract"
    default_auto_field = "django.db.models.BigAutoField"
