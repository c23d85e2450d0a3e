from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "penaltypay.payments"
    label = "payments"
    default_auto_field = "django.db.models.BigAutoField"
