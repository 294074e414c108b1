"""Writes and rules of the sales core."""

from django.db import transaction
from django.utils import timezone

from .announcements import announce_record_changed
from .models import Account, Contact, Deal, DealStageChange, Note

# Bookkeeping columns that never count as a change a workflow reacts to.
UNTRACKED_FIELDS = frozenset({"id", "company", "created_at", "updated_at", "is_deleted"})


def _tracked_fields(model):
    return [field for field in model._meta.concrete_fields if field.name not in UNTRACKED_FIELDS]


def _stored_values(instance) -> dict | None:
    """The record's fields as stored before this save, or None for a new record."""
    if instance._state.adding:
        return None
    columns = [field.attname for field in _tracked_fields(type(instance))]
    return type(instance).objects.filter(pk=instance.pk).values(*columns).first()


def _announce_change(instance, before: dict | None) -> dict:
    """Announce that a record was created or changed; returns {field: (old, new)} of what changed."""
    changed = {}
    for field in _tracked_fields(type(instance)):
        new = field.to_python(getattr(instance, field.attname))
        old = None if before is None else before[field.attname]
        if before is None or old != new:
            changed[field.name] = (old, new)
    announce_record_changed(instance, created=before is None, changed_fields=changed)
    return changed


@transaction.atomic
def save_contact(contact: Contact, **changes) -> Contact:
    """Create or update a contact; workflows watching contacts hear of it once."""
    before = _stored_values(contact)
    for field, value in changes.items():
        setattr(contact, field, value)
    contact.save()
    _announce_change(contact, before)
    return contact


@transaction.atomic
def save_account(account: Account, **changes) -> Account:
    """Create or update an account; workflows watching accounts hear of it once."""
    before = _stored_values(account)
    for field, value in changes.items():
        setattr(account, field, value)
    account.save()
    _announce_change(account, before)
    return account


def apply_stage_rules(deal: Deal, *, previous_stage: str | None) -> None:
    """Stamp closed_at when a deal enters won or lost, and clear it when it reopens."""
    if deal.stage in Deal.CLOSED_STAGES and (previous_stage != deal.stage or deal.closed_at is None):
        deal.closed_at = timezone.now()
    elif deal.stage not in Deal.CLOSED_STAGES:
        deal.closed_at = None


@transaction.atomic
def save_deal(deal: Deal, *, changed_by=None, **changes) -> Deal:
    """Create or update a deal, keeping its closing time consistent with its stage.

    A change of stage is kept in the deal's history (who moved it, when, from and to). Workflows
    watching deals hear of it once, with the fields that changed.
    """
    before = _stored_values(deal)
    for field, value in changes.items():
        setattr(deal, field, value)
    previous_stage = None if before is None else before["stage"]
    apply_stage_rules(deal, previous_stage=previous_stage)
    deal.save()
    if previous_stage is not None and previous_stage != deal.stage:
        DealStageChange.objects.create(
            deal=deal, from_stage=previous_stage, to_stage=deal.stage, user=changed_by
        )
    _announce_change(deal, before)
    return deal


def mark_deal_won(deal: Deal) -> Deal:
    """Close a deal as won (used when its quote is accepted)."""
    return save_deal(deal, stage=Deal.Stage.WON)


def contact_for_phone(phone: str, *, create: bool = False) -> Contact | None:
    """The current company's oldest contact with this number; with `create`, a new one named after it."""
    contact = Contact.objects.filter(phone=phone).order_by("created_at", "pk").first()
    if contact is None and create:
        contact = save_contact(Contact(first_name=phone[:100], phone=phone))
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


@transaction.atomic
def save_note(note: Note, **changes) -> Note:
    """Create or change a note about one contact, account or deal."""
    for field, value in changes.items():
        setattr(note, field, value)
    note.save()
    return note
