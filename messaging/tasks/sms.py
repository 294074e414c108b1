"""Celery tasks of SMS."""

from celery import shared_task

from tenancy.tasks import TenantTask

from ..services import sms


@shared_task(base=TenantTask, name="messaging.send_sms")
def send_sms(*, company_id: str, message_id: str) -> None:
    """Hand one recorded, queued text to Twilio (once, however often the task is delivered)."""
    sms.deliver(message_id)
