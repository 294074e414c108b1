"""Every rule and write of workflow definitions, and their triggers: saving, deleting, starting executions.

Record events reach workflows through one function, `record_changed`, which subscribes to the sales
core's announcements (crm.announcements) in WorkflowsConfig.ready(); no signal handlers are involved.
Manual runs, inbound webhooks and dry runs start here too; the scheduled trigger lives in
workflows.schedule, and running an execution's steps in workflows.engine.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.text import NUL
from tenancy.context import company_context
from tenancy.exceptions import NoTenantContext

from .actions import ACTION_TYPES, action_errors
from .actions.base import RunContext, StepRefused
from .conditions import condition_errors, evaluate, unmet
from .engine import PENDING, CannotCancel, acting_chain, cancel_by_id, queue_run
from .models import Workflow, WorkflowExecution
from .records import RecordType, json_value, record_type_named, record_type_of, record_types
from .schedule import next_slot, schedule_errors
from .signing import new_secret

logger = logging.getLogger("workflows")

Status = WorkflowExecution.Status
Trigger = Workflow.Trigger

# A workflow's change to a record may trigger other workflows, never one already in the chain.
MAX_CHAIN_LENGTH = 5


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
    errors.update(schedule_errors(workflow))
    if "record_type" in errors:
        return errors
    problems = condition_errors(workflow.conditions, trigger=workflow.trigger, record_type=record_type)
    if problems:
        errors["conditions"] = problems
    problems = action_errors(workflow.actions, trigger=workflow.trigger, record_type=record_type)
    if problems:
        errors["actions"] = problems
    return errors


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
            cancel_by_id(execution_id, reason="The workflow was deleted.")
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


# Text PostgreSQL cannot hold in jsonb: core.text.NUL, and lone surrogates (which have no UTF-8 form).
# Where the API refuses NUL in text it takes (core.text), a payload is stored as it came, repaired.
UNSTORABLE_TEXT = re.compile(f"[{NUL}\ud800-\udfff]")


def storable_json(value):
    """A posted payload as jsonb can store it: NUL and lone surrogates in keys and text become U+FFFD."""
    if isinstance(value, str):
        return UNSTORABLE_TEXT.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable_json(key): storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value


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
    chain = acting_chain()
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


def run_manually(workflow: Workflow, *, user, record_id=None, payload=None) -> WorkflowExecution:
    """Start the workflow now on a record or a payload; its conditions must hold (change conditions aside)."""
    record_type, record = _subject(workflow, record_id)
    payload = payload or {}
    results = evaluate(workflow.conditions, record_type=record_type, record=record, payload=payload)
    not_met = unmet(results)
    if not_met:
        raise RunConflict({"conditions": [f"Not met: {condition}." for condition in not_met]})
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
    if unmet(results):
        return results, False
    dedupe_key = f"delivery:{delivery_id}"[:200] if delivery_id else ""
    return start_execution(
        workflow, trigger=Trigger.WEBHOOK, payload=payload, record=record, dedupe_key=dedupe_key
    )


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
    context = RunContext(workflow=workflow, record_type=record_type, record=record, payload=payload)
    described = []
    for index, action in enumerate(workflow.actions):
        entry = {"index": index, "type": action["type"], "would": None, "error": ""}
        try:
            entry["would"] = ACTION_TYPES[action["type"]].describe(
                context, action.get("params", {}), index=index
            )
        except StepRefused as error:
            entry["error"] = str(error)
        described.append(entry)
    return {
        "conditions_met": not unmet(results),
        "conditions": [asdict(result) for result in results],
        "actions": described,
    }
