"""Texts and e-mails on the timelines of the contact, account or deal they concern."""

from django.db.models import Value

from crm.timeline import TimelineSource, text

from .models import Email, SmsMessage

TEXTS = TimelineSource(
    type="sms",
    rows=lambda: SmsMessage.objects.all(),
    concerns={"contact": ("contact",), "account": ("contact__account",)},
    summary=lambda: text("direction", Value(" text, "), "status", Value(": "), "body"),
)

EMAILS = TimelineSource(
    type="email",
    rows=lambda: Email.objects.all(),
    concerns={
        "contact": ("contact",),
        "account": ("contact__account", "deal__account"),
        "deal": ("deal",),
    },
    summary=lambda: text(Value("E-mail, "), "status", Value(": "), "subject"),
)
