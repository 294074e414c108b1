"""Workflows (a trigger, conditions and ordered actions) and their executions with a per-step log."""

from django.conf import settings
from django.db import models

from core.encryption import EncryptedTextField
from tenancy.models import TenantModel
from tenancy.roles import COMPANY_SETTINGS

USER = settings.AUTH_USER_MODEL


class Workflow(TenantModel):
    """An automation of one company: when its trigger fires and its conditions hold, run its actions."""

    role_rule = COMPANY_SETTINGS

    class Trigger(models.TextChoices):
        RECORD_CREATED = "record_created", "A record is created"
        RECORD_UPDATED = "record_updated", "A record is updated"
        SCHEDULE = "schedule", "On a schedule"
        MANUAL = "manual", "Run by hand"
        WEBHOOK = "webhook", "A signed inbound webhook"

    RECORD_TRIGGERS = (Trigger.RECORD_CREATED, Trigger.RECORD_UPDATED)

    user = models.ForeignKey(
        USER,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The owner, who is notified when an execution fails.",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    record_type = models.CharField(
        max_length=30, blank=True, help_text="The kind of record the workflow watches or acts on."
    )
    conditions = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list)
    schedule_interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    schedule_cron = models.CharField(max_length=100, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True, help_text="The next due slot of a schedule.")
    secret = EncryptedTextField(
        blank=True, help_text="Signs outbound webhooks and verifies inbound ones (HMAC-SHA256)."
    )

    class Meta(TenantModel.Meta):
        db_table = "workflows"
        indexes = [
            models.Index(fields=["company", "trigger", "record_type"], name="workflows_company_trigger"),
            models.Index(
                fields=["next_run_at"],
                condition=models.Q(trigger="schedule", is_active=True, is_deleted=False),
                name="workflows_schedule_due",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StepStatus(models.TextChoices):
    """The status of one step in an execution's log."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class WorkflowExecution(TenantModel):
    """One run of a workflow: what triggered it, each step's outcome, and how it ended."""

    role_rule = COMPANY_SETTINGS

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="executions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    trigger = models.CharField(max_length=20, choices=Workflow.Trigger.choices)
    trigger_payload = models.JSONField(default=dict, blank=True)
    record_type = models.CharField(max_length=30, blank=True)
    record_id = models.UUIDField(null=True, blank=True, help_text="The record the actions act on.")
    steps = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Actions tried, counting retries.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    resume_at = models.DateTimeField(
        null=True, blank=True, help_text="When the execution is next due to run (queued, retry or wait)."
    )
    error = models.TextField(blank=True)
    triggered_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    dedupe_key = models.CharField(
        max_length=200, blank=True, help_text="A schedule slot or an inbound delivery id, run once."
    )

    class Meta(TenantModel.Meta):
        db_table = "workflow_executions"
        indexes = [
            models.Index(fields=["company", "workflow", "-created_at"], name="wf_exec_company_workflow"),
            models.Index(fields=["company", "status"], name="wf_exec_company_status"),
            models.Index(
                fields=["resume_at"],
                condition=models.Q(status__in=["pending", "running"]),
                name="wf_exec_resume_due",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="workflow_execution_dedupe_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow} ({self.status})"


class WorkflowDelivery(TenantModel):
    """A signed inbound hook a workflow took in, kept so that replaying its delivery id is refused.

    Its own table rather than the execution's dedupe key: a delivery whose conditions did not hold
    starts no execution, yet replaying it must be refused too.
    """

    role_rule = COMPANY_SETTINGS

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="+")
    delivery_id = models.CharField(max_length=100)
    signed_at = models.DateTimeField(help_text="The time the sender signed, from its signature.")

    class Meta(TenantModel.Meta):
        db_table = "workflow_deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["company", "workflow", "delivery_id"], name="workflow_delivery_received_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id}: {self.delivery_id}"
