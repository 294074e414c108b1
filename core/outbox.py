"""The outbox: sends recorded in the database but never handed to a worker are queued again.

Every send (SMS, e-mail, call) is stored as `queued` before its task is queued after commit. When
the broker is down the task never reaches a worker; the periodic sweep finds such rows once the
broker is back and queues them again. The send tasks claim a row atomically (`claim_queued`), so a
row queued twice is still sent once.

Apps register what they send in their `AppConfig.ready()`. The sweep reads rows of every tenant,
so the layer that owns tenancy installs how it reads across them and which row fields route a task.
"""

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.apps import apps
from django.conf import settings
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger("core.outbox")

QUEUED = "queued"
BATCH = 500


@dataclass(frozen=True)
class OutboxSend:
    """A model whose rows are sends: its label, the task that sends one, and the keyword naming the row."""

    model_label: str
    task_name: str
    id_keyword: str


_sends: list[OutboxSend] = []
_reader: Callable[[str], AbstractContextManager] = lambda reason: nullcontext()  # noqa: E731
_routing_fields: tuple[str, ...] = ()


def register_send(model_label: str, task_name: str, id_keyword: str) -> None:
    """Have the sweep queue again this model's rows left `queued` (called from AppConfig.ready())."""
    send = OutboxSend(model_label, task_name, id_keyword)
    if send not in _sends:
        _sends.append(send)


def registered_sends() -> list[OutboxSend]:
    """The sends the sweep covers, in registration order."""
    return list(_sends)


def install_reader(
    reader: Callable[[str], AbstractContextManager], *, routing_fields: tuple[str, ...]
) -> None:
    """How the sweep reads every tenant's rows (a context taking a reason), and the fields each task needs."""
    global _reader, _routing_fields
    _reader, _routing_fields = reader, routing_fields


def claim_queued(model, pk, *, to_status: str, **changes) -> bool:
    """Move one row from `queued` to `to_status` in one conditional UPDATE; True when this caller won it.

    A redelivered or re-queued task, or a row cancelled or deleted meanwhile, finds nothing to claim.
    Each claim counts an attempt.
    """
    claimed = model.objects.filter(pk=pk, status=QUEUED).update(
        status=to_status, attempts=F("attempts") + 1, updated_at=timezone.now(), **changes
    )
    return claimed == 1


def requeue_stalled_sends() -> int:
    """Queue again every send still `queued` well after it was recorded; returns how many."""
    cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)
    requeued = 0
    for send in _sends:
        task = current_app.tasks.get(send.task_name)
        if task is None:
            continue
        model = apps.get_model(send.model_label)
        with _reader(f"outbox: requeue stalled {send.model_label} sends"):
            stalled = list(
                model.objects.filter(status=QUEUED, updated_at__lt=cutoff)
                .order_by("updated_at")
                .values_list("pk", *_routing_fields)[:BATCH]
            )
            # Queued again now: the next sweep waits a full interval before trying these rows again.
            model.objects.filter(pk__in=[pk for pk, *_ in stalled]).update(updated_at=timezone.now())
        for pk, *routing in stalled:
            kwargs = {name: str(value) for name, value in zip(_routing_fields, routing, strict=True)}
            task.apply_async(kwargs={**kwargs, send.id_keyword: str(pk)})
            requeued += 1
    if requeued:
        logger.info("outbox: queued %s stalled sends again", requeued)
    return requeued
