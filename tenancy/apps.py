from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "tenancy"
    verbose_name = "Tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, schema  # noqa: F401  (registers checks and the OpenAPI extension)
        from .rls import connect_signals

        connect_signals()
