"""The schedule trigger: five-field cron expressions and intervals, their slots, and a slot's run.

Saving a workflow checks its schedule and places its next slot here (`schedule_errors`,
`next_slot`); the beat task finds due workflows and `start_scheduled_run` runs each slot once.
"""

from __future__ import annotations

import datetime

from celery.schedules import crontab
from django.db import transaction
from django.utils import timezone

from .conditions import evaluate, unmet
from .models import Workflow, WorkflowExecution

Trigger = Workflow.Trigger

MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 366 * 24 * 3600


def schedule_errors(workflow: Workflow) -> dict:
    """What is wrong with a scheduled workflow's interval or cron expression, per field; {} otherwise."""
    interval, cron = workflow.schedule_interval_seconds, (workflow.schedule_cron or "").strip()
    if workflow.trigger != Trigger.SCHEDULE:
        return {}
    if (interval is None) == (not cron):
        return {"schedule_interval_seconds": ["Give either an interval in seconds or a cron expression."]}
    if interval is not None and not MIN_INTERVAL_SECONDS <= interval <= MAX_INTERVAL_SECONDS:
        return {"schedule_interval_seconds": [f"Give {MIN_INTERVAL_SECONDS} seconds to 366 days."]}
    if cron:
        try:
            parse_cron(cron)
        except ValueError as error:
            return {"schedule_cron": [str(error)]}
    return {}


def _cron_field(value: str, names: str = "") -> str:
    # A step follows `*` or a range only: Celery's crontab refuses `5/10` (a start without an end).
    item = rf"(\*(/[1-9]\d?)?|{value}(-{value}(/[1-9]\d?)?)?)"
    if names:
        item = rf"({item}|{names})"
    return rf"{item}(,{item})*"


# The five-field expressions parse_cron takes, with each field's range, as the schema states them.
CRON_PATTERN = (
    "^"
    + " ".join(
        [
            _cron_field(r"[0-5]?\d"),
            _cron_field(r"(1?\d|2[0-3])"),
            _cron_field(r"(0?[1-9]|[12]\d|3[01])"),
            _cron_field(r"(0?[1-9]|1[0-2])"),
            _cron_field(r"[0-6]", "mon|tue|wed|thu|fri|sat|sun"),
        ]
    )
    + "$"
)


def parse_cron(expression: str) -> crontab:
    """A five-field cron expression (minute hour day-of-month month day-of-week, in UTC) as a crontab."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("A cron expression has five fields: minute hour day-of-month month day-of-week.")
    minute, hour, day_of_month, month, day_of_week = fields
    return crontab(
        minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week
    )


def next_slot(workflow: Workflow, *, after: datetime.datetime) -> datetime.datetime:
    """The first due time of a schedule strictly after `after` (whole seconds, UTC)."""
    after = after.replace(microsecond=0)
    if workflow.schedule_cron:
        last, delta, _ = parse_cron(workflow.schedule_cron).remaining_delta(after)
        return (last + delta).replace(second=0, microsecond=0).astimezone(datetime.UTC)
    step = datetime.timedelta(seconds=workflow.schedule_interval_seconds)
    slot = workflow.next_run_at or after
    if slot > after:
        return slot
    missed = (after - slot) // step + 1
    return slot + missed * step


def start_scheduled_run(workflow_id, *, due_at: datetime.datetime) -> WorkflowExecution | None:
    """Run a scheduled workflow for one due slot, once: the slot is claimed by moving next_run_at on."""
    from .services import start_execution  # cycle: services imports this module to check and place schedules

    workflow = Workflow.objects.filter(pk=workflow_id, trigger=Trigger.SCHEDULE, is_active=True).first()
    if workflow is None or workflow.next_run_at != due_at:
        return None
    with transaction.atomic():
        following = next_slot(workflow, after=max(due_at, timezone.now()))
        claimed = Workflow.objects.filter(pk=workflow.pk, next_run_at=due_at).update(
            next_run_at=following, updated_at=timezone.now()
        )
        if not claimed:
            return None
        payload = {"due_at": due_at.isoformat()}
        results = evaluate(workflow.conditions, record_type=None, payload=payload)
        if unmet(results):
            return None
        execution, created = start_execution(
            workflow, trigger=Trigger.SCHEDULE, payload=payload, dedupe_key=f"schedule:{due_at.isoformat()}"
        )
        return execution if created else None
