"""The sales core's own timeline entries: notes and deal stage changes."""

from django.db.models import Value

from .models import DealStageChange, Note
from .timeline import TimelineSource, text

NOTES = TimelineSource(
    type="note",
    rows=lambda: Note.objects.all(),
    # An account's timeline shows the notes on its contacts and deals too.
    concerns={
        "contact": ("contact",),
        "account": ("account", "contact__account", "deal__account"),
        "deal": ("deal",),
    },
    summary=lambda: text("body"),
)

STAGE_CHANGES = TimelineSource(
    type="stage_change",
    rows=lambda: DealStageChange.objects.all(),
    concerns={"contact": ("deal__contact",), "account": ("deal__account",), "deal": ("deal",)},
    summary=lambda: text("deal__name", Value(": "), "from_stage", Value(" → "), "to_stage"),
)
