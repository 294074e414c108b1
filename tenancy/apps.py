from django.apps import AppConfig

from core import outbox

from .context import all_companies
from .rls import connect_signals


class TenancyConfig(AppConfig):
    name = "tenancy"
    verbose_name = "Tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, schema  # noqa: F401  (registers checks and the OpenAPI extension)

        connect_signals()
        # The outbox sweep is a platform job: it reads every company's queued sends, audited by reason,
        # and queues each under its own company.
        outbox.install_reader(lambda reason: all_companies(reason=reason), routing_fields=("company_id",))
