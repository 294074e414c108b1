"""E-mail tasks: send one queued e-mail."""

from celery import shared_task

from tenancy.tasks import TenantTask

from ..services import campaigns


@shared_task(base=TenantTask, name="messaging.send_email")
def send_email(*, company_id, email_id):
    """Send one queued e-mail once, recording sent or failed."""
    campaigns.send_queued_email(email_id)
