"""Isolation-matrix registration of /api/notifications (read, mark read and dismiss; no create)."""

from messaging.models import Notification
from tenancy.context import company_context
from tenancy.models import User

from ..factories import NotificationFactory
from ..isolation import Registration


def first_owner(company) -> dict:
    """A notification of the company's first owner: the matrix's signed-in user, who sees only their own."""
    with company_context(company):
        owner = User.objects.filter(company=company, role=User.Role.OWNER).order_by("date_joined").first()
    return {"user": owner}


def notification_payload(company) -> dict:
    # Only ever refused: notifications are created by the system, never through the API.
    return {"kind": Notification.Kind.INFO, "title": "Posted through the API"}


REGISTRATIONS = {Notification: Registration(NotificationFactory, notification_payload, owned_by=first_owner)}
