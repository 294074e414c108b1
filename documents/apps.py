from django.apps import AppConfig

from crm.timeline import subscribe_timeline_source


class DocumentsConfig(AppConfig):
    name = "documents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .timeline import DOCUMENTS  # its models wait for the app registry

        subscribe_timeline_source(DOCUMENTS)
