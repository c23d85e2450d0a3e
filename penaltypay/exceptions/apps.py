from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    """Money a person must look at: payments ECS refused, deliveries stuck, over-payments,
    refunds that failed; and telling the team when a new one appears."""

    name = "penaltypay.exceptions"
    label = "exceptions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from penaltypay.exceptions import jobs  # noqa: F401 - declares the app's periodic jobs
