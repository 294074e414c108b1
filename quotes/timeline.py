"""Quotes on the timelines of the contact, account or deal they are for."""

from django.db.models import TextField, Value
from django.db.models.functions import Cast

from crm.timeline import TimelineSource, text

from .models import Quote

QUOTES = TimelineSource(
    type="quote",
    rows=lambda: Quote.objects.all(),
    concerns={"contact": ("contact",), "account": ("account",), "deal": ("deal",)},
    summary=lambda: text(
        Value("Quote #"),
        Cast("number", TextField()),
        Value(" "),
        "title",
        Value(", "),
        "status",
        Value(": "),
        Cast("total", TextField()),
        Value(" "),
        "currency",
    ),
)
