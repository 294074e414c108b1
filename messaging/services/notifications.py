"""Notifications: created by the other services when something needs a person's attention."""

from django.db import transaction
from django.utils import timezone

from tenancy.services import company_managers

from ..models import Notification


def notify(user, *, kind: str, title: str, body: str = "", target=None) -> list[Notification]:
    """Notify one user, or the company's owners and admins when the user is unknown."""
    recipients = [user] if user is not None and user.company_id else list(company_managers())
    target_type = target._meta.model_name if target is not None else ""
    target_id = target.pk if target is not None else None
    return Notification.objects.bulk_create(
        Notification(
            user=recipient,
            kind=kind,
            title=title[:200],
            body=body,
            target_type=target_type,
            target_id=target_id,
        )
        for recipient in recipients
    )


def mark_read(notification: Notification) -> Notification:
    """Mark one notification read (idempotent: the first read time stays)."""
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at", "updated_at"])
    return notification


@transaction.atomic
def mark_all_read(user) -> int:
    """Mark every unread notification of a user read; returns how many changed."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now(), updated_at=timezone.now()
    )


def unread_count(user) -> int:
    """How many notifications the user has not read."""
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
