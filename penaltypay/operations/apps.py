from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _after_migrate(sender, using="default", **kwargs):
    """The owner's last steps of every migrate: the audit policy the trigger reads, and the
    application role's grants on whatever the release added."""
    from django.conf import settings
    from django.db import connections

    from penaltypay.audit.policy import store_policy
    from penaltypay.operations.db_roles import grant_to_app_role

    connection = connections[using]
    store_policy(connection)
    grant_to_app_role(connection, settings.DATABASE_APP_ROLE)


class OperationsConfig(AppConfig):
    name = "penaltypay.operations"
    label = "operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_after_migrate, sender=self, dispatch_uid="penaltypay-after-migrate")
        from penaltypay.operations import scheduled_purge  # noqa: F401 - declares its periodic job
