"""Celery tasks of the shared plumbing."""

from celery import shared_task

from . import outbox


# The name predates the outbox's move into core; beat schedules and queued tasks still carry it.
@shared_task(name="messaging.requeue_stalled_sends")
def requeue_stalled_sends() -> int:
    """Queue again every send still `queued` well after it was recorded; returns how many."""
    return outbox.requeue_stalled_sends()
