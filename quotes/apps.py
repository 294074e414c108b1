from django.apps import AppConfig

from crm.timeline import subscribe_timeline_source
from documents.announcements import subscribe_signing_finished


class QuotesConfig(AppConfig):
    name = "quotes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # quotes.services imports models, which wait for the app registry.
        from .services import settle_quotes_signed_through

        subscribe_signing_finished(settle_quotes_signed_through)
        from .timeline import QUOTES

        subscribe_timeline_source(QUOTES)
