"""Celery tasks of calls."""

from celery import shared_task

from tenancy.tasks import TenantTask

from . import services


@shared_task(base=TenantTask, name="calls.place_call")
def place_call(*, company_id: str, call_id: str) -> None:
    """Place a recorded click-to-call through Twilio; a redelivered task places it once."""
    services.place_call(call_id)
