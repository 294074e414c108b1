"""Admin pages of workflows: workflows checked like the API, executions read-only with their step log."""

import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from tenancy.admin import TenantModelAdmin
from tenancy.context import company_context, current_company_id

from . import services
from .models import Workflow, WorkflowExecution


def _messages(errors) -> list[str]:
    """Nested per-item errors ({"0": {"params.url": [...]}}) as readable lines."""
    if isinstance(errors, list):
        return [str(error) for error in errors]
    return [
        f"#{int(index) + 1} {key}: {message}"
        for index, fields in errors.items()
        for key, messages in fields.items()
        for message in messages
    ]


class WorkflowForm(forms.ModelForm):
    """A workflow whose conditions and actions are checked against the same rules as the API."""

    class Meta:
        model = Workflow
        fields = [
            "name",
            "description",
            "is_active",
            "trigger",
            "record_type",
            "conditions",
            "actions",
            "schedule_interval_seconds",
            "schedule_cron",
            "user",
        ]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = self.instance
        for field in self.Meta.fields:
            if field in cleaned:
                setattr(candidate, field, cleaned[field])
        company = cleaned.get("company") or candidate.company_id or current_company_id()
        if company is None:
            return cleaned
        with company_context(company):
            errors = services.workflow_errors(candidate)
        for field, problems in errors.items():
            self.add_error(field, _messages(problems))
        return cleaned


@admin.register(Workflow)
class WorkflowAdmin(TenantModelAdmin):
    form = WorkflowForm
    list_display = ["name", "trigger", "record_type", "is_active", "user", "next_run_at", "updated_at"]
    list_filter = ["trigger", "record_type", "is_active"]
    search_fields = ["name", "description"]
    list_select_related = ["user"]
    readonly_fields = ["next_run_at"]

    def save_record(self, request, obj, form, change):
        if not change and obj.user_id is None and request.user.company_id:
            obj.user = request.user
        services.save_workflow(obj)


@admin.register(WorkflowExecution)
class WorkflowExecutionAdmin(TenantModelAdmin):
    """Executions are a record of what ran: readable, never edited here."""

    list_display = ["created_at", "workflow", "status", "trigger", "attempts", "started_at", "finished_at"]
    list_filter = ["status", "trigger"]
    search_fields = ["workflow__name", "error"]
    list_select_related = ["workflow"]
    fields = [
        "workflow",
        "status",
        "trigger",
        "record_type",
        "record_id",
        "triggered_by",
        "attempts",
        "started_at",
        "finished_at",
        "resume_at",
        "error",
        "payload",
        "step_log",
    ]
    readonly_fields = fields

    @admin.display(description="Trigger payload")
    def payload(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.trigger_payload, indent=2, sort_keys=True))

    @admin.display(description="Steps")
    def step_log(self, obj):
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td>"
            "<td>{}</td></tr>",
            (
                (
                    step["index"] + 1,
                    step["type"],
                    step["status"],
                    step["attempts"],
                    step.get("started_at") or "",
                    step.get("finished_at") or "",
                    json.dumps(step.get("output"), indent=2, sort_keys=True) if step.get("output") else "",
                    step.get("error") or "",
                )
                for step in obj.steps
            ),
        )
        return format_html(
            "<table><thead><tr><th>#</th><th>Action</th><th>Status</th><th>Attempts</th><th>Started</th>"
            "<th>Finished</th><th>Output</th><th>Error</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
