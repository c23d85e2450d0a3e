from django.apps import AppConfig


class RemindersConfig(AppConfig):
    """A reminder before the reduced amount ends (issue 35): asked for on the penalty page,
    sent by the worker REMINDER_DAYS_BEFORE days before the reduction deadline, once."""

    name = "penaltypay.reminders"
    label = "reminders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from penaltypay.reminders import jobs  # noqa: F401 - declares the app's periodic job
