from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    """The daily three-way reconciliation: the provider, penaltypay and ECS."""

    name = "penaltypay.reconciliation"
    label = "reconciliation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from penaltypay.reconciliation import jobs  # noqa: F401 - declares the app's periodic jobs
