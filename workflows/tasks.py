"""Celery tasks of workflows: run an execution, start a scheduled run, and the beat job finding both."""

import logging

from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from tenancy.context import all_companies
from tenancy.tasks import TenantTask, enqueue_after_commit

from . import engine, schedule
from .models import Workflow, WorkflowExecution

logger = logging.getLogger("workflows")

# Due workflows and stalled executions handled per beat run; the rest are found by the next run.
DUE_BATCH = 500


@shared_task(base=TenantTask, bind=True, name="workflows.run_execution")
def run_execution(self, *, company_id, execution_id):
    """Run an execution's remaining steps; a redelivered task never repeats a step that succeeded."""
    # Eager mode (development without a worker) has no later task to end a wait, so waits end at once.
    engine.run_execution(execution_id, honour_waits=not self.request.is_eager)


@shared_task(base=TenantTask, name="workflows.start_scheduled")
def start_scheduled(*, company_id, workflow_id, due_at):
    """Start one company's scheduled workflow for one due slot, at most once per slot."""
    schedule.start_scheduled_run(workflow_id, due_at=parse_datetime(due_at))


@shared_task(name="workflows.dispatch_scheduled")
def dispatch_scheduled() -> int:
    """Platform job: queue due scheduled workflows and executions whose task was lost, in their company."""
    now = timezone.now()
    with all_companies(reason="workflows: find due schedules and executions left unqueued"):
        due = list(
            Workflow.objects.filter(trigger=Workflow.Trigger.SCHEDULE, is_active=True, next_run_at__lte=now)
            .order_by("next_run_at")
            .values_list("pk", "company_id", "next_run_at")[:DUE_BATCH]
        )
        stalled = list(
            WorkflowExecution.objects.filter(
                status__in=[WorkflowExecution.Status.PENDING, WorkflowExecution.Status.RUNNING],
                resume_at__lt=engine.stalled_executions_cutoff(),
            )
            .order_by("resume_at")
            .values_list("pk", "company_id")[:DUE_BATCH]
        )
    for workflow_id, company_id, due_at in due:
        enqueue_after_commit(
            start_scheduled, company_id=company_id, workflow_id=str(workflow_id), due_at=due_at.isoformat()
        )
    for execution_id, company_id in stalled:
        enqueue_after_commit(run_execution, company_id=company_id, execution_id=str(execution_id))
    if due or stalled:
        logger.info("workflows: queued %s scheduled runs and %s stalled executions", len(due), len(stalled))
    return len(due)
