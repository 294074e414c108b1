from django.apps import AppConfig

from crm.announcements import subscribe_record_changed


class WorkflowsConfig(AppConfig):
    name = "workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Not at the top: they import models, which cannot load before the app registry this file is part of.
        from .records import register_sales_core
        from .services import record_changed

        register_sales_core()
        subscribe_record_changed(record_changed)
