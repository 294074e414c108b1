"""Writes and rules of the sales core."""

from django.db import transaction
from django.utils import timezone

from .models import Contact, Deal


def apply_stage_rules(deal: Deal, *, previous_stage: str | None) -> None:
    """Stamp closed_at when a deal enters won or lost, and clear it when it reopens."""
    if deal.stage in Deal.CLOSED_STAGES and (previous_stage != deal.stage or deal.closed_at is None):
        deal.closed_at = timezone.now()
    elif deal.stage not in Deal.CLOSED_STAGES:
        deal.closed_at = None


@transaction.atomic
def save_deal(deal: Deal, **changes) -> Deal:
    """Create or update a deal, keeping its closing time consistent with its stage."""
    previous_stage = (
        None if deal._state.adding else Deal.objects.values_list("stage", flat=True).get(pk=deal.pk)
    )
    for field, value in changes.items():
        setattr(deal, field, value)
    apply_stage_rules(deal, previous_stage=previous_stage)
    deal.save()
    return deal


def mark_deal_won(deal: Deal) -> Deal:
    """Close a deal as won (used when its quote is accepted)."""
    return save_deal(deal, stage=Deal.Stage.WON)


def contact_for_phone(phone: str, *, create: bool = False) -> Contact | None:
    """The current company's oldest contact with this number; with `create`, a new one named after it."""
    contact = Contact.objects.filter(phone=phone).order_by("created_at", "pk").first()
    if contact is None and create:
        contact = Contact.objects.create(first_name=phone[:100], phone=phone)
    return contact


def sms_opted_out(phone: str) -> bool:
    """Whether any of the current company's contacts with this number replied STOP."""
    return Contact.objects.filter(phone=phone, sms_opted_out=True).exists()


def record_sms_opt_out(phone: str, opted_out: bool) -> int:
    """Record STOP (or START) on every contact of the current company with this number."""
    now = timezone.now()
    return Contact.objects.filter(phone=phone).update(
        sms_opted_out=opted_out, sms_opted_out_at=now if opted_out else None, updated_at=now
    )
