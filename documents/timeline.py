"""Documents on the timelines of the contact, account or deal they belong to."""

from django.db.models import Value

from crm.timeline import TimelineSource, text

from .models import Document

DOCUMENTS = TimelineSource(
    type="document",
    rows=lambda: Document.objects.all(),
    concerns={
        "contact": ("contact",),
        "account": ("contact__account", "deal__account"),
        "deal": ("deal",),
    },
    summary=lambda: text(Value("Document "), "name", Value(", "), "status"),
)
