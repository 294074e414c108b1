from django.apps import AppConfig

from core import outbox


class CallsConfig(AppConfig):
    name = "calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        outbox.register_send("calls.Call", "calls.place_call", "call_id")
