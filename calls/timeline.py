"""Calls on the timelines of their contact and the contact's account."""

from django.db.models import Value

from crm.timeline import TimelineSource, text

from .models import Call

CALLS = TimelineSource(
    type="call",
    rows=lambda: Call.objects.all(),
    concerns={"contact": ("contact",), "account": ("contact__account",)},
    summary=lambda: text(
        "direction", Value(" call, "), "status", Value(": "), "from_number", Value(" → "), "to_number"
    ),
)
