"""Every rule and write of workflows: saving them, triggering them, running and cancelling executions.

Record events reach workflows through one function, `record_changed`, which subscribes to the sales
core's announcements (crm.announcements) in WorkflowsConfig.ready(); no signal handlers are involved.
An execution runs in a Celery task one step at a time. Each step is claimed under a lock on the
execution row, and the writes of a step (an e-mail recorded, a field changed, a notification) commit
together with the step's success, so a redelivered task never repeats a step that succeeded.
Outbound webhooks, which cannot be rolled back, are claimed first and settled after the request,
outside any transaction.
"""

from __future__ import annotations

import datetime
import logging
import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict

from celery.schedules import crontab
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import StateConflict
from messaging.models import Notification
from messaging.services.notifications import notify
from tenancy.context import company_context
from tenancy.exceptions import NoTenantContext
from tenancy.tasks import enqueue_after_commit

from . import actions
from .models import StepStatus, Workflow, WorkflowExecution
from .records import RecordType, json_value, record_type_named, record_type_of, record_types
from .rules import MAX_ACTIONS, action_errors, condition_errors, evaluate, wait_seconds
from .signing import WebhookRefused, new_secret

logger = logging.getLogger("workflows")

Status = WorkflowExecution.Status
Trigger = Workflow.Trigger

PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED = StepStatus.values
DONE_STEPS = (SUCCEEDED, SKIPPED)
# A running outbound webhook whose claim is older than this lost its worker; its outcome is unknown.
STEP_LEASE_SECONDS = 300
# A workflow's change to a record may trigger other workflows, never one already in the chain.
MAX_CHAIN_LENGTH = 5
# A wait's task arriving this early (clocks of two machines) ends the wait anyway.
WAIT_TOLERANCE_SECONDS = 1
MIN_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
ERROR_LIMIT = 2000

_chain: ContextVar[tuple[str, ...]] = ContextVar("workflow_chain", default=())


class InvalidWorkflow(Exception):
    """A workflow that breaks the documented rules; `errors` is keyed by field, like a 400 body."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


class RunRefused(Exception):
    """A run, dry run or inbound webhook that cannot start; `errors` is keyed by request field."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


class WorkflowConflict(InvalidWorkflow):
    """A change valid in itself that the stored workflow refuses (a condition on another record type)."""


class RunConflict(RunRefused):
    """The run does not fit the workflow or the record as they are now (no record type, unmet conditions)."""


class RecordNotFound(RunRefused):
    """The record a run names is not a live record of the company (another company's id alike)."""


class CannotCancel(StateConflict):
    """The execution has finished already."""


# Saving workflows


def workflow_errors(workflow: Workflow) -> dict:
    """Every rule the workflow breaks, per field; empty when it may be saved."""
    errors: dict = {}
    record_type = None
    if workflow.record_type:
        record_type = record_type_named(workflow.record_type)
        if record_type is None:
            errors["record_type"] = [f"Use one of: {', '.join(record_types())}."]
    if workflow.trigger not in Trigger.values:
        errors["trigger"] = [f"Use one of: {', '.join(Trigger.values)}."]
    elif workflow.trigger in Workflow.RECORD_TRIGGERS and not workflow.record_type:
        errors["record_type"] = [f"A record trigger watches one record type: {', '.join(record_types())}."]
    elif workflow.trigger == Trigger.SCHEDULE and workflow.record_type:
        errors["record_type"] = ["A scheduled workflow runs on no record; leave record_type empty."]
    errors.update(_schedule_errors(workflow))
    if "record_type" in errors:
        return errors
    problems = condition_errors(workflow.conditions, trigger=workflow.trigger, record_type=record_type)
    if problems:
        errors["conditions"] = problems
    problems = action_errors(workflow.actions, trigger=workflow.trigger, record_type=record_type)
    if problems:
        errors["actions"] = problems
    return errors


def _schedule_errors(workflow: Workflow) -> dict:
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
    item = rf"(\*|{value}(-{value})?)(/[1-9]\d?)?"
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


@transaction.atomic
def save_workflow(workflow: Workflow, **changes) -> Workflow:
    """Create or change a workflow after checking it against the documented rules."""
    before = None
    if not workflow._state.adding:
        before = (
            Workflow.objects.filter(pk=workflow.pk)
            .values("trigger", "is_active", "schedule_interval_seconds", "schedule_cron")
            .first()
        )
    for field, value in changes.items():
        setattr(workflow, field, value)
    if workflow.trigger != Trigger.SCHEDULE:
        # A schedule belongs to the schedule trigger: switching to another drops it, as a form would.
        workflow.schedule_interval_seconds, workflow.schedule_cron = None, ""
    workflow.schedule_cron = (workflow.schedule_cron or "").strip()
    errors = workflow_errors(workflow)
    if errors:
        if before is not None and _fits_another_workflow(changes):
            raise WorkflowConflict(errors)
        raise InvalidWorkflow(errors)
    if not workflow.secret:
        workflow.secret = new_secret()
    if workflow.trigger != Trigger.SCHEDULE:
        workflow.next_run_at = None
    elif before is None or workflow.next_run_at is None or _schedule_moved(before, workflow):
        # A new or changed schedule starts from now; slots missed while it was off are not run.
        workflow.next_run_at = None
        workflow.next_run_at = next_slot(workflow, after=timezone.now())
    workflow.save()
    return workflow


def _fits_another_workflow(changes: dict) -> bool:
    """Whether the changes would be valid on some workflow: then only the stored one refuses them."""
    triggers = [changes["trigger"]] if "trigger" in changes else Trigger.values
    names = [changes["record_type"]] if "record_type" in changes else ["", *record_types()]
    for trigger in triggers:
        for name in names:
            candidate = Workflow(
                trigger=trigger, record_type=name, actions=[{"type": "wait", "params": {"hours": 1}}]
            )
            if trigger == Trigger.SCHEDULE and not {"schedule_interval_seconds", "schedule_cron"} & set(
                changes
            ):
                candidate.schedule_interval_seconds = 3600
            for field, value in changes.items():
                if field not in ("trigger", "record_type"):
                    setattr(candidate, field, value)
            if trigger != Trigger.SCHEDULE:
                candidate.schedule_interval_seconds, candidate.schedule_cron = None, ""
            candidate.schedule_cron = (candidate.schedule_cron or "").strip()
            if not workflow_errors(candidate):
                return True
    return False


def _schedule_moved(before: dict, workflow: Workflow) -> bool:
    return (
        before["trigger"] != workflow.trigger
        or before["schedule_interval_seconds"] != workflow.schedule_interval_seconds
        or before["schedule_cron"] != workflow.schedule_cron
        or (workflow.is_active and not before["is_active"])
    )


def rotate_secret(workflow: Workflow) -> str:
    """Give the workflow a new signing secret; the old one stops working at once."""
    workflow.secret = new_secret()
    workflow.save(update_fields=["secret", "updated_at"])
    return workflow.secret


@transaction.atomic
def delete_workflow(workflow: Workflow) -> None:
    """Soft-delete a workflow and cancel its executions that have not finished."""
    for execution_id in WorkflowExecution.objects.filter(
        workflow=workflow, status__in=[Status.PENDING, Status.RUNNING]
    ).values_list("pk", flat=True):
        try:
            _cancel(execution_id, reason="The workflow was deleted.")
        except CannotCancel:
            continue  # it finished in the meantime
    workflow.soft_delete()


# Starting executions


def _new_steps(workflow: Workflow) -> list[dict]:
    return [
        {
            "index": index,
            "type": action["type"],
            "params": action.get("params", {}),
            "status": PENDING,
            "output": None,
            "error": "",
            "attempts": 0,
            "started_at": None,
            "finished_at": None,
            "next_attempt_at": None,
        }
        for index, action in enumerate(workflow.actions)
    ]


def start_execution(
    workflow: Workflow,
    *,
    trigger: str,
    payload: dict,
    record=None,
    triggered_by=None,
    dedupe_key: str = "",
) -> tuple[WorkflowExecution, bool]:
    """Record a pending execution and queue it after commit; (execution, created).

    A dedupe key (a schedule slot, an inbound delivery id) already used by this workflow returns the
    existing execution instead of starting another.
    """
    execution = WorkflowExecution(
        workflow=workflow,
        trigger=trigger,
        trigger_payload=storable_json(payload),
        record_type=workflow.record_type if record is not None else "",
        record_id=record.pk if record is not None else None,
        steps=_new_steps(workflow),
        triggered_by=triggered_by,
        dedupe_key=dedupe_key,
        resume_at=timezone.now(),
    )
    try:
        with transaction.atomic():
            execution.save()
    except IntegrityError:
        if not dedupe_key:
            raise
        existing = WorkflowExecution.objects.filter(workflow=workflow, dedupe_key=dedupe_key).first()
        if existing is None:
            raise
        return existing, False
    queue_run(execution)
    return execution, True


# Text PostgreSQL cannot hold in jsonb: NUL, and lone surrogates (which have no UTF-8 form).
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def storable_json(value):
    """A posted payload as jsonb can store it: NUL and lone surrogates in keys and text become U+FFFD."""
    if isinstance(value, str):
        return UNSTORABLE_TEXT.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable_json(key): storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value


def queue_run(execution: WorkflowExecution, *, countdown: float | None = None) -> None:
    """Queue the execution's task once the current transaction commits."""
    from .tasks import run_execution

    enqueue_after_commit(
        run_execution, company_id=execution.company_id, execution_id=str(execution.pk), countdown=countdown
    )


def record_changed(instance, *, created: bool, changed_fields: dict) -> list[WorkflowExecution]:
    """The one entry point of record events: start every matching active workflow of the company.

    `changed_fields` maps each field that changed to (old, new). Called by the sales core's save
    services inside their transaction, so executions are queued only if the change commits.
    Runs inside the record's own company whatever the caller's scope (a super admin's request spans
    all companies), so only that company's workflows ever see the record.
    """
    record_type = record_type_of(instance)
    if record_type is None or (not created and not changed_fields):
        return []
    if instance.company_id is None:
        raise NoTenantContext(f"{type(instance).__name__} {instance.pk} has no company; no workflow runs.")
    with company_context(instance.company_id):
        return _start_record_workflows(instance, record_type, created=created, changed_fields=changed_fields)


def _start_record_workflows(
    instance, record_type: RecordType, *, created: bool, changed_fields: dict
) -> list[WorkflowExecution]:
    chain = _chain.get()
    if len(chain) >= MAX_CHAIN_LENGTH:
        logger.warning("workflow chain %s is %s long; not triggering more", chain, len(chain))
        return []
    trigger = Trigger.RECORD_CREATED if created else Trigger.RECORD_UPDATED
    changes = {field: [json_value(old), json_value(new)] for field, (old, new) in changed_fields.items()}
    workflows = Workflow.objects.filter(
        is_active=True, trigger=trigger, record_type=record_type.name
    ).exclude(pk__in=chain)
    started = []
    for workflow in workflows.select_related("user", "company"):
        results = evaluate(
            workflow.conditions, record_type=record_type, record=instance, changed_fields=changes, events=True
        )
        if not all(result.met for result in results):
            continue
        payload = {
            "event": trigger,
            "record_type": record_type.name,
            "record_id": str(instance.pk),
            "changed_fields": changes,
            "chain": list(chain),
        }
        execution, _ = start_execution(workflow, trigger=trigger, payload=payload, record=instance)
        started.append(execution)
    return started


def _subject(workflow: Workflow, record_id) -> tuple[RecordType | None, object | None]:
    """The record type and the current company's record a run acts on; another company's id is unknown."""
    record_type = record_type_named(workflow.record_type) if workflow.record_type else None
    if record_type is None:
        if record_id is not None:
            raise RunConflict({"record_id": ["This workflow has no record type; send a payload instead."]})
        return None, None
    if record_id is None:
        raise RunConflict({"record_id": [f"This workflow acts on a {record_type.name}: give its id."]})
    record = record_type.get(record_id)
    if record is None:
        raise RecordNotFound({"record_id": [f"No {record_type.name} of this company has this id."]})
    return record_type, record


def _unmet(results) -> list[str]:
    return [f"{result.field} {result.op} {result.value!r}" for result in results if result.met is False]


def run_manually(workflow: Workflow, *, user, record_id=None, payload=None) -> WorkflowExecution:
    """Start the workflow now on a record or a payload; its conditions must hold (change conditions aside)."""
    record_type, record = _subject(workflow, record_id)
    payload = payload or {}
    results = evaluate(workflow.conditions, record_type=record_type, record=record, payload=payload)
    unmet = _unmet(results)
    if unmet:
        raise RunConflict({"conditions": [f"Not met: {condition}." for condition in unmet]})
    execution, _ = start_execution(
        workflow, trigger=Trigger.MANUAL, payload=payload, record=record, triggered_by=user
    )
    return execution


def receive_webhook(workflow: Workflow, *, payload: dict, delivery_id: str = "") -> tuple[object, bool]:
    """Start a webhook workflow from a verified inbound request; (execution or condition results, created).

    A workflow with a record type reads the record's id from the payload's `record_id`. A delivery
    id sent again (the sender retrying) returns the execution it started the first time.
    """
    record_id = payload.get("record_id") if workflow.record_type else None
    if workflow.record_type and record_id is None:
        raise RunRefused({"record_id": [f"Send the {workflow.record_type}'s id as record_id."]})
    record_type, record = _subject(workflow, record_id)
    results = evaluate(workflow.conditions, record_type=record_type, record=record, payload=payload)
    if _unmet(results):
        return results, False
    dedupe_key = f"delivery:{delivery_id}"[:200] if delivery_id else ""
    return start_execution(
        workflow, trigger=Trigger.WEBHOOK, payload=payload, record=record, dedupe_key=dedupe_key
    )


def start_scheduled_run(workflow_id, *, due_at: datetime.datetime) -> WorkflowExecution | None:
    """Run a scheduled workflow for one due slot, once: the slot is claimed by moving next_run_at on."""
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
        if _unmet(results):
            return None
        execution, created = start_execution(
            workflow, trigger=Trigger.SCHEDULE, payload=payload, dedupe_key=f"schedule:{due_at.isoformat()}"
        )
        return execution if created else None


# Dry run


def dry_run(workflow: Workflow, *, record_id=None, payload=None, changed_fields=None) -> dict:
    """What the workflow would do now: each condition's outcome and each action rendered; writes nothing."""
    record_type, record = _subject(workflow, record_id)
    payload = payload or {}
    results = evaluate(
        workflow.conditions,
        record_type=record_type,
        record=record,
        payload=payload,
        changed_fields=changed_fields,
        events=changed_fields is not None,
    )
    context = actions.RunContext(workflow=workflow, record_type=record_type, record=record, payload=payload)
    described = []
    for index, action in enumerate(workflow.actions):
        entry = {"index": index, "type": action["type"], "would": None, "error": ""}
        try:
            entry["would"] = actions.DESCRIBERS[action["type"]](
                context, action.get("params", {}), index=index
            )
        except actions.StepRefused as error:
            entry["error"] = str(error)
        described.append(entry)
    return {
        "conditions_met": not _unmet(results),
        "conditions": [asdict(result) for result in results],
        "actions": described,
    }


# Running executions


# What a step leaves the task to do: stop (finished, waiting, retrying later, owned elsewhere) or go on.
STOP = object()
CONTINUE = object()


def run_execution(execution_id, *, honour_waits: bool = True) -> None:
    """Run an execution's remaining steps, one claimed step at a time, until it finishes or must wait.

    Safe to call any number of times for the same execution (redelivered or re-queued tasks): a
    step that succeeded is never run again. Without `honour_waits` (eager mode, where no later
    task would come) a wait step ends at once.
    """
    for _ in range(2 * MAX_ACTIONS + 2):
        move = _advance(execution_id, honour_waits=honour_waits)
        if move is STOP:
            return
        if isinstance(move, actions.WebhookCall) and _settle_webhook(execution_id, move, _call(move)) is STOP:
            return


def _call(call: actions.WebhookCall):
    """The webhook's result, or the exception it raised (refused address, timeout, connection error)."""
    try:
        return call.perform()
    except Exception as error:
        logger.info("webhook %s failed: %s", call.url, error)
        return error


def _locked(execution_id) -> WorkflowExecution | None:
    executions = WorkflowExecution.objects.select_for_update(of=("self",)).select_related("workflow")
    return executions.filter(pk=execution_id).first()


def _now_text() -> str:
    return timezone.now().isoformat()


def _context(execution: WorkflowExecution) -> actions.RunContext:
    record_type = record_type_named(execution.record_type) if execution.record_type else None
    record = record_type.get(execution.record_id) if record_type and execution.record_id else None
    return actions.RunContext(
        workflow=execution.workflow,
        record_type=record_type,
        record=record,
        payload=execution.trigger_payload,
        execution=execution,
    )


@contextmanager
def _acting_for(execution: WorkflowExecution):
    """Record changes made by this execution's steps carry the chain of workflows that caused them."""
    chain = (
        tuple(execution.trigger_payload.get("chain", []))
        if execution.trigger in Workflow.RECORD_TRIGGERS
        else ()
    )
    token = _chain.set((*chain, str(execution.workflow_id)))
    try:
        yield
    finally:
        _chain.reset(token)


def _advance(execution_id, *, honour_waits: bool):
    """Under a lock on the execution row, run or claim its first unfinished step."""
    with transaction.atomic():
        execution = _locked(execution_id)
        if execution is None or execution.status in WorkflowExecution.FINISHED:
            return STOP
        now = timezone.now()
        if execution.status == Status.PENDING:
            execution.status, execution.started_at = Status.RUNNING, now
        step = next((step for step in execution.steps if step["status"] not in DONE_STEPS), None)
        if step is None:
            execution.status, execution.finished_at, execution.resume_at = Status.SUCCEEDED, now, None
            execution.save()
            return STOP
        if step["status"] == RUNNING:
            return _resume_running_step(execution, step, now, honour_waits=honour_waits)
        execution.resume_at = None
        if step["type"] == "wait":
            seconds = wait_seconds(step["params"])
            resume_at = now + datetime.timedelta(seconds=seconds)
            step.update(status=RUNNING, started_at=now.isoformat(), next_attempt_at=resume_at.isoformat())
            step["attempts"] += 1
            execution.resume_at = resume_at
            execution.save()
            queue_run(execution, countdown=seconds)
            return STOP
        step["attempts"] += 1
        execution.attempts += 1
        step["started_at"] = step["started_at"] or now.isoformat()
        step["next_attempt_at"] = None
        context = _context(execution)
        if step["type"] == "webhook":
            step.update(status=RUNNING, claimed_at=now.isoformat())
            execution.save()
            try:
                return actions.webhook_call(
                    context, step["params"], index=step["index"], attempt=step["attempts"]
                )
            except Exception as error:  # building the body failed: nothing was sent
                return _fail_step(execution, step, _describe(error), retry=False)
        try:
            with transaction.atomic(), _acting_for(execution):
                output = actions.TRANSACTIONAL_RUNNERS[step["type"]](context, step["params"])
        except actions.StepRefused as error:
            return _fail_step(execution, step, str(error), retry=False)
        except Exception as error:
            logger.warning("workflow step %s of %s failed", step["index"], execution.pk, exc_info=True)
            return _fail_step(execution, step, _describe(error), retry=True)
        _succeed(execution, step, output)
        return CONTINUE


def _resume_running_step(execution, step, now, *, honour_waits: bool):
    if step["type"] == "wait":
        remaining = (datetime.datetime.fromisoformat(step["next_attempt_at"]) - now).total_seconds()
        if honour_waits and remaining > WAIT_TOLERANCE_SECONDS:
            queue_run(execution, countdown=remaining)  # early (a duplicate, or a clock ahead): come back
            return STOP
        _succeed(execution, step, {"waited_seconds": wait_seconds(step["params"])})
        return CONTINUE
    if _claim_fresh(step, now):
        return STOP  # another worker is making this call right now
    return _fail_step(
        execution, step, "The worker stopped while this step ran; its outcome is unknown.", retry=True
    )


def _claim_fresh(step, now) -> bool:
    claimed_at = datetime.datetime.fromisoformat(step.get("claimed_at") or step["started_at"])
    return (now - claimed_at).total_seconds() < STEP_LEASE_SECONDS


def _succeed(execution, step, output) -> None:
    step.update(status=SUCCEEDED, output=output, error="", finished_at=_now_text())
    step.pop("claimed_at", None)
    execution.save()


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:ERROR_LIMIT]


def _backoff(attempt: int) -> float:
    delays = list(settings.WORKFLOW_RETRY_BACKOFF_SECONDS) or [0]
    return float(delays[min(attempt - 1, len(delays) - 1)])


def _fail_step(execution, step, message: str, *, retry: bool):
    """Record a failed attempt: retry it later, or fail the execution and tell the owner."""
    now = timezone.now()
    step["error"] = message[:ERROR_LIMIT]
    step.pop("claimed_at", None)
    if retry and step["attempts"] < settings.WORKFLOW_STEP_MAX_ATTEMPTS:
        delay = _backoff(step["attempts"])
        retry_at = now + datetime.timedelta(seconds=delay)
        step.update(status=PENDING, next_attempt_at=retry_at.isoformat())
        execution.resume_at = retry_at
        execution.save()
        queue_run(execution, countdown=delay)
        return STOP
    step.update(status=FAILED, finished_at=now.isoformat(), next_attempt_at=None)
    for later in execution.steps[step["index"] + 1 :]:
        later.update(status=SKIPPED, error="Not run: an earlier step failed.")
    attempts = step["attempts"]
    execution.status, execution.finished_at, execution.resume_at = Status.FAILED, now, None
    execution.error = (
        f"Step {step['index'] + 1} ({step['type']}) failed after {attempts} "
        f"attempt{'s' if attempts != 1 else ''}: {message}"
    )[:ERROR_LIMIT]
    execution.save()
    workflow = execution.workflow
    notify(
        workflow.user,
        kind=Notification.Kind.SEND_FAILED,
        title=f"Workflow {workflow.name!r} failed",
        body=execution.error,
        target=execution,
    )
    return STOP


def _settle_webhook(execution_id, call: actions.WebhookCall, result):
    """Record the outcome of an outbound webhook call made by one claimed attempt; STOP or CONTINUE."""
    with transaction.atomic():
        execution = _locked(execution_id)
        if execution is None:
            return STOP
        step = execution.steps[call.index]
        if step["status"] != RUNNING or step["attempts"] != call.attempt:
            return STOP  # settled already (the claim had expired and was handled elsewhere)
        ok = not isinstance(result, Exception) and result.ok
        if ok:
            output = {"url": call.url, "status_code": result.status_code, "response": result.response_excerpt}
            _succeed(execution, step, output)
            return CONTINUE
        if isinstance(result, Exception):
            message = str(result) if isinstance(result, WebhookRefused) else _describe(result)
        else:
            message = f"{call.url} answered {result.status_code}: {result.response_excerpt[:200]}"
        if execution.status in WorkflowExecution.FINISHED:
            # Cancelled while the request was in flight: keep the true outcome, retry nothing.
            step.update(status=FAILED, error=message, finished_at=_now_text())
            step.pop("claimed_at", None)
            execution.save()
            return STOP
        return _fail_step(execution, step, message, retry=not isinstance(result, WebhookRefused))


# Cancelling


def cancel_execution(execution: WorkflowExecution, *, user=None) -> WorkflowExecution:
    """Stop a pending or running execution; steps not yet run are skipped."""
    who = f" by {user.full_name or user.email}" if user is not None else ""
    with transaction.atomic():
        _cancel(execution.pk, reason=f"Cancelled{who}.")
    return WorkflowExecution.objects.select_related("workflow").get(pk=execution.pk)


def _cancel(execution_id, *, reason: str) -> None:
    execution = _locked(execution_id)
    if execution.status not in (Status.PENDING, Status.RUNNING):
        raise CannotCancel(
            f"This execution has {execution.status} already; only pending or running ones stop."
        )
    now = timezone.now()
    for step in execution.steps:
        # An outbound call in flight settles with its true outcome; a wait or a lost call is dropped.
        in_flight = step["status"] == RUNNING and step["type"] != "wait" and _claim_fresh(step, now)
        if step["status"] == PENDING or (step["status"] == RUNNING and not in_flight):
            step.update(status=SKIPPED, error="Not run: the execution was cancelled.", next_attempt_at=None)
    execution.status, execution.finished_at, execution.resume_at = Status.CANCELLED, now, None
    execution.error = reason
    execution.save()


def parse_uuid(value) -> uuid.UUID | None:
    """A UUID from a path or payload value, or None when it is not one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def stalled_executions_cutoff() -> datetime.datetime:
    """Executions due to run before this time, still pending or running, lost their task."""
    return timezone.now() - datetime.timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)
