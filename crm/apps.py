from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Sales"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The sales core's own entries; the apps above it subscribe theirs from their ready().
        from .timeline import subscribe_timeline_source
        from .timeline_sources import NOTES, STAGE_CHANGES

        subscribe_timeline_source(NOTES)
        subscribe_timeline_source(STAGE_CHANGES)
