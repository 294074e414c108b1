from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from crm.announcements import subscribe_record_changed

        from .records import register_sales_core
        from .services import record_changed

        register_sales_core()
        subscribe_record_changed(record_changed)
