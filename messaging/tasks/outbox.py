"""The outbox: sends recorded in the database but never handed to a worker are queued again.

Every send (SMS, e-mail, call) is stored as `queued` before its task is queued after commit. When
the broker is down the task never reaches a worker; this periodic job finds such rows once the
broker is back and queues them again. The send tasks claim a row atomically, so a row queued twice
is still sent once.
"""

import logging
from datetime import timedelta

from celery import current_app, shared_task
from django.apps import apps
from django.conf import settings
from django.utils import timezone

from tenancy.context import all_companies

logger = logging.getLogger("messaging.outbox")

# (model label, task name, keyword naming the record id); each model has a `status` with "queued".
OUTBOX = [
    ("messaging.SmsMessage", "messaging.send_sms", "message_id"),
    ("messaging.Email", "messaging.send_email", "email_id"),
    ("calls.Call", "calls.place_call", "call_id"),
]
BATCH = 500


@shared_task(name="messaging.requeue_stalled_sends")
def requeue_stalled_sends() -> int:
    """Queue again every send still `queued` well after it was recorded; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)
    requeued = 0
    for label, task_name, id_keyword in OUTBOX:
        task = current_app.tasks.get(task_name)
        if task is None:
            continue
        model = apps.get_model(label)
        with all_companies(reason=f"outbox: requeue stalled {label} sends"):
            stalled = list(
                model.objects.filter(status="queued", updated_at__lt=cutoff)
                .order_by("updated_at")
                .values_list("pk", "company_id")[:BATCH]
            )
            # Queued again now: the next sweep waits a full interval before trying these rows again.
            model.objects.filter(pk__in=[pk for pk, _ in stalled]).update(updated_at=timezone.now())
        for pk, company_id in stalled:
            task.apply_async(kwargs={"company_id": str(company_id), id_keyword: str(pk)})
            requeued += 1
    if requeued:
        logger.info("outbox: queued %s stalled sends again", requeued)
    return requeued
