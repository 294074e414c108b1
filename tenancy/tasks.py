"""The Celery task base class that runs each task inside its company, and queuing after commit."""

import logging
import uuid

from celery import Task
from django.db import transaction

from .context import company_context
from .exceptions import NoTenantContext

logger = logging.getLogger("tenancy.tasks")


class TenantTask(Task):
    """Runs the task inside the company named by its `company_id` keyword, and clears it after.

    Tasks take ids, never model objects; a task without a company refuses to run.
    """

    def __call__(self, *args, **kwargs):
        company_id = kwargs.get("company_id")
        if not company_id:
            raise NoTenantContext(
                f"Task {self.name} needs a company_id keyword argument; queue it with "
                "tenancy.tasks.enqueue_after_commit(task, company_id=..., ...)."
            )
        try:
            uuid.UUID(str(company_id))
        except ValueError as error:
            raise NoTenantContext(f"Task {self.name} got an invalid company_id {company_id!r}.") from error
        with company_context(company_id):
            return super().__call__(*args, **kwargs)


def enqueue_after_commit(task, *, company_id, countdown: float | None = None, **kwargs) -> None:
    """Queue a tenant task once the current transaction commits, so it sees the rows it needs.

    A broker outage does not fail the request: the record stays queued in the database and the
    outbox job queues it again once the broker is back. `countdown` delays the task (retries, waits).
    """
    kwargs["company_id"] = str(company_id)
    options = {"countdown": countdown} if countdown else {}
    transaction.on_commit(lambda: _apply_async_or_log(task, kwargs, options), robust=True)


def _apply_async_or_log(task, kwargs, options=None) -> None:
    try:
        task.apply_async(kwargs=kwargs, **(options or {}))
    except Exception:
        logger.warning(
            "could not queue %s %s; the outbox will queue it again", task.name, kwargs, exc_info=True
        )
