from django.apps import AppConfig


class EcsConfig(AppConfig):
    name = "penaltypay.ecs"
    label = "ecs"
    default_auto_field = "django.db.models.BigAutoField"
