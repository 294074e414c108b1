from django.apps import AppConfig

from core import outbox
from crm.timeline import subscribe_timeline_source


class CallsConfig(AppConfig):
    name = "calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        outbox.register_send("calls.Call", "calls.place_call", "call_id")
        from .timeline import CALLS  # its models wait for the app registry

        subscribe_timeline_source(CALLS)
