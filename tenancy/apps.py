from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in

from core import outbox

from .context import all_companies
from .rls import connect_signals


class TenancyConfig(AppConfig):
    name = "tenancy"
    verbose_name = "Tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks, schema  # noqa: F401  (registers checks and the OpenAPI extension)
        from .auth import update_last_login_in_own_scope

        connect_signals()
        # Outside the user's scope the row-level security of `users` would skip the write silently.
        # Django's receiver has this dispatch_uid: taking it first means django.contrib.auth's
        # ready(), which runs after this app's, connects nothing of its own.
        user_logged_in.disconnect(dispatch_uid="update_last_login")
        user_logged_in.connect(update_last_login_in_own_scope, dispatch_uid="update_last_login")
        # The outbox sweep is a platform job: it reads every company's queued sends, audited by reason,
        # and queues each under its own company.
        outbox.install_reader(lambda reason: all_companies(reason=reason), routing_fields=("company_id",))
