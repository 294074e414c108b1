"""The execution engine: runs an execution's steps one claimed step at a time, with retries and cancels.

Each step is claimed under a lock on the execution row. A transactional step's writes (an e-mail
recorded, a field changed, a notification) commit together with the step's success, so a
redelivered task never repeats a step that succeeded. Other steps, such as outbound webhooks, which
cannot be rolled back, are claimed first and settled after their call, outside any transaction; a
pause holds the steps after it. What each step does comes from its registry entry
(workflows.actions.ACTION_TYPES).
"""

from __future__ import annotations

import datetime
import logging
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.exceptions import StateConflict
from messaging.models import Notification
from messaging.services.notifications import notify
from tenancy.tasks import enqueue_after_commit

from .actions import ACTION_TYPES, MAX_ACTIONS
from .actions.base import RunContext, StepFailed, StepRefused
from .models import StepStatus, Workflow, WorkflowExecution
from .records import record_type_named

logger = logging.getLogger("workflows")

Status = WorkflowExecution.Status

PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED = StepStatus.values
DONE_STEPS = (SUCCEEDED, SKIPPED)
# A running outbound call whose claim is older than this lost its worker; its outcome is unknown.
STEP_LEASE_SECONDS = 300
# A pause's task arriving this early (clocks of two machines) ends the pause anyway.
WAIT_TOLERANCE_SECONDS = 1
ERROR_LIMIT = 2000

# The workflows whose steps caused the record change being made now (a chain of workflows).
_chain: ContextVar[tuple[str, ...]] = ContextVar("workflow_chain", default=())


class CannotCancel(StateConflict):
    """The execution has finished already."""


def acting_chain() -> tuple[str, ...]:
    """The ids of the workflows, in order, whose steps are making the current change; () outside a step."""
    return _chain.get()


def queue_run(execution: WorkflowExecution, *, countdown: float | None = None) -> None:
    """Queue the execution's task once the current transaction commits."""
    from .tasks import run_execution  # cycle: workflows.tasks imports this module to run the task

    enqueue_after_commit(
        run_execution, company_id=execution.company_id, execution_id=str(execution.pk), countdown=countdown
    )


# What a step leaves the task to do: stop (finished, waiting, retrying later, owned elsewhere) or go on.
STOP = object()
CONTINUE = object()


def run_execution(execution_id, *, honour_waits: bool = True) -> None:
    """Run an execution's remaining steps, one claimed step at a time, until it finishes or must wait.

    Safe to call any number of times for the same execution (redelivered or re-queued tasks): a
    step that succeeded is never run again. Without `honour_waits` (eager mode, where no later
    task would come) a pause ends at once.
    """
    for _ in range(2 * MAX_ACTIONS + 2):
        move = _advance(execution_id, honour_waits=honour_waits)
        if move is STOP:
            return
        if move is not CONTINUE and _settle(execution_id, move, _perform(move)) is STOP:
            return


def _perform(call):
    """A claimed call's output, or the exception it raised (refused address, timeout, connection error)."""
    try:
        return call.perform()
    except Exception as error:
        return error


def _locked(execution_id) -> WorkflowExecution | None:
    executions = WorkflowExecution.objects.select_for_update(of=("self",)).select_related("workflow")
    return executions.filter(pk=execution_id).first()


def _now_text() -> str:
    return timezone.now().isoformat()


def _context(execution: WorkflowExecution) -> RunContext:
    record_type = record_type_named(execution.record_type) if execution.record_type else None
    record = record_type.get(execution.record_id) if record_type and execution.record_id else None
    return RunContext(
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
    """Under a lock on the execution row, run or claim its first unfinished step; STOP, CONTINUE or a call."""
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
        action_type = ACTION_TYPES[step["type"]]
        execution.resume_at = None
        if action_type.pauses:
            seconds = action_type.run(step["params"])
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
        if not action_type.transactional:
            step.update(status=RUNNING, claimed_at=now.isoformat())
            execution.save()
            try:
                return action_type.run(context, step["params"], index=step["index"], attempt=step["attempts"])
            except Exception as error:  # preparing the call failed: nothing was sent
                return _fail_step(execution, step, _describe(error), retry=False)
        try:
            with transaction.atomic(), _acting_for(execution):
                output = action_type.run(context, step["params"])
        except StepRefused as error:
            return _fail_step(execution, step, str(error), retry=False)
        except Exception as error:
            logger.warning("workflow step %s of %s failed", step["index"], execution.pk, exc_info=True)
            return _fail_step(execution, step, _describe(error), retry=True)
        _succeed(execution, step, output)
        return CONTINUE


def _resume_running_step(execution, step, now, *, honour_waits: bool):
    action_type = ACTION_TYPES[step["type"]]
    if action_type.pauses:
        remaining = (datetime.datetime.fromisoformat(step["next_attempt_at"]) - now).total_seconds()
        if remaining > WAIT_TOLERANCE_SECONDS:
            if honour_waits:
                queue_run(execution, countdown=remaining)  # early (a duplicate, or a clock ahead): come back
                return STOP
            _succeed(execution, step, _wait_cut_short(execution, step, now, action_type))
            return CONTINUE
        _succeed(execution, step, {"waited_seconds": action_type.run(step["params"])})
        return CONTINUE
    if _claim_fresh(step, now):
        return STOP  # another worker is making this call right now
    return _fail_step(
        execution, step, "The worker stopped while this step ran; its outcome is unknown.", retry=True
    )


WAIT_CUT_SHORT = "tasks run in-process (no worker), so nothing would end the wait later"


def _wait_cut_short(execution, step, now, action_type) -> dict:
    """The record of a wait ended early in eager mode: what was asked, what really passed, and why."""
    planned = action_type.run(step["params"])
    waited = max(0, round((now - datetime.datetime.fromisoformat(step["started_at"])).total_seconds()))
    logger.warning(
        "workflow execution %s: a wait of %ss at step %s ended after %ss: %s",
        execution.pk,
        planned,
        step["index"],
        waited,
        WAIT_CUT_SHORT,
    )
    return {"waited_seconds": waited, "planned_seconds": planned, "cut_short": WAIT_CUT_SHORT}


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


def _settle(execution_id, call, result):
    """Record the outcome (output or error) of a call made by one claimed attempt; STOP or CONTINUE."""
    with transaction.atomic():
        execution = _locked(execution_id)
        if execution is None:
            return STOP
        step = execution.steps[call.index]
        if step["status"] != RUNNING or step["attempts"] != call.attempt:
            return STOP  # settled already (the claim had expired and was handled elsewhere)
        if not isinstance(result, Exception):
            _succeed(execution, step, result)
            return CONTINUE
        message = str(result) if isinstance(result, StepRefused | StepFailed) else _describe(result)
        if execution.status in WorkflowExecution.FINISHED:
            # Cancelled while the call was in flight: keep the true outcome, retry nothing.
            step.update(status=FAILED, error=message, finished_at=_now_text())
            step.pop("claimed_at", None)
            execution.save()
            return STOP
        return _fail_step(execution, step, message, retry=not isinstance(result, StepRefused))


# Cancelling


def cancel_execution(execution: WorkflowExecution, *, user=None) -> WorkflowExecution:
    """Stop a pending or running execution; steps not yet run are skipped."""
    who = f" by {user.full_name or user.email}" if user is not None else ""
    with transaction.atomic():
        cancel_by_id(execution.pk, reason=f"Cancelled{who}.")
    return WorkflowExecution.objects.select_related("workflow").get(pk=execution.pk)


def cancel_by_id(execution_id, *, reason: str) -> None:
    """Cancel an execution inside the caller's transaction; CannotCancel when it has finished."""
    execution = _locked(execution_id)
    if execution.status not in (Status.PENDING, Status.RUNNING):
        raise CannotCancel(
            f"This execution has {execution.status} already; only pending or running ones stop."
        )
    now = timezone.now()
    for step in execution.steps:
        # An outbound call in flight settles with its true outcome; a wait or a lost call is dropped.
        pauses = ACTION_TYPES[step["type"]].pauses
        in_flight = step["status"] == RUNNING and not pauses and _claim_fresh(step, now)
        if step["status"] == PENDING or (step["status"] == RUNNING and not in_flight):
            step.update(status=SKIPPED, error="Not run: the execution was cancelled.", next_attempt_at=None)
    execution.status, execution.finished_at, execution.resume_at = Status.CANCELLED, now, None
    execution.error = reason
    execution.save()


def stalled_executions_cutoff() -> datetime.datetime:
    """Executions due to run before this time, still pending or running, lost their task."""
    return timezone.now() - datetime.timedelta(seconds=settings.OUTBOX_REQUEUE_AFTER_SECONDS)
