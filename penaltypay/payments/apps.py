from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "penaltypay.payments"
    label = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from penaltypay.payments import jobs  # noqa: F401 - declares the app's periodic jobs
