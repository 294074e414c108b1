from django.apps import AppConfig


class CallsConfig(AppConfig):
    name = "calls"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core import outbox

        outbox.register_send("calls.Call", "calls.place_call", "call_id")
