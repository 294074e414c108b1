from django.apps import AppConfig

from core import outbox
from crm.timeline import subscribe_timeline_source


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        outbox.register_send("messaging.SmsMessage", "messaging.send_sms", "message_id")
        outbox.register_send("messaging.Email", "messaging.send_email", "email_id")
        from .timeline import EMAILS, TEXTS  # their models wait for the app registry

        subscribe_timeline_source(TEXTS)
        subscribe_timeline_source(EMAILS)
