"""REST API of workflows: /api/workflows, with test, run, executions, cancel and the signing secret."""

from contextlib import contextmanager

import django_filters
from django.conf import settings
from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response

from core.api import Conflict, DetailSerializer, StrictSerializer
from core.api.filters import BooleanFilter, narrowed_to_status
from tenancy.api import TenantModelSerializer, TenantViewSet

from . import engine, services
from .actions import ACTION_TYPES
from .models import StepStatus, Workflow, WorkflowExecution
from .records import parse_uuid, record_type_named, record_types
from .schedule import CRON_PATTERN, MAX_INTERVAL_SECONDS, MIN_INTERVAL_SECONDS
from .schema import ACTIONS_SCHEMA, CONDITIONS_SCHEMA, actions_schema, conditions_schema

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]


@contextmanager
def refusals_as_4xx():
    """A refused workflow or run: 404 for an unknown record, 409 for a state conflict, else 400 by field."""
    try:
        yield
    except services.RecordNotFound as error:
        raise NotFound(_sentence(error.errors)) from error
    except (services.RunConflict, services.WorkflowConflict) as error:
        raise Conflict(_sentence(error.errors)) from error
    except (services.InvalidWorkflow, services.RunRefused) as error:
        raise serializers.ValidationError(error.errors) from error


def _sentence(errors) -> str:
    """Every message of a nested error body, in order, as one text."""
    if isinstance(errors, str):
        return errors
    items = errors.values() if isinstance(errors, dict) else errors
    return " ".join(_sentence(item) for item in items)


@extend_schema_field(CONDITIONS_SCHEMA)
class ConditionsField(serializers.JSONField):
    """Conditions as documented in docs/WORKFLOWS.md."""


@extend_schema_field(ACTIONS_SCHEMA)
class ActionsField(serializers.JSONField):
    """Actions as documented in docs/WORKFLOWS.md."""


class WorkflowSerializer(TenantModelSerializer):
    """A trigger, conditions that must all hold, and actions run in order in the background."""

    record_type = serializers.ChoiceField(
        choices=[],
        required=False,
        allow_blank=True,
        help_text="The record the workflow watches (record triggers) or acts on; empty for none.",
    )
    conditions = ConditionsField(
        required=False,
        help_text=(
            "A list of {field, op, value}; ops: eq, ne, gt, gte, lt, lte, in, contains, changed, "
            "changed_to. All must hold."
        ),
    )
    actions = ActionsField(help_text=f"Ordered {{type, params}}: {', '.join(ACTION_TYPES)}.")
    schedule_interval_seconds = serializers.IntegerField(
        required=False, allow_null=True, help_text="Schedule trigger: run every N seconds (60 or more)."
    )
    schedule_cron = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Schedule trigger: a five-field cron expression in UTC, e.g. `0 9 * * mon-fri`.",
    )
    webhook_url = serializers.SerializerMethodField(
        help_text="Webhook trigger: where to POST, signed with the workflow's secret (X-CRM-Signature)."
    )

    class Meta:
        model = Workflow
        fields = [
            *RECORD_FIELDS,
            "user",
            "name",
            "description",
            "is_active",
            "trigger",
            "record_type",
            "conditions",
            "actions",
            "schedule_interval_seconds",
            "schedule_cron",
            "next_run_at",
            "webhook_url",
        ]
        read_only_fields = [*RECORD_FIELDS, "user", "next_run_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["record_type"].choices = sorted(record_types())

    def get_webhook_url(self, workflow) -> str | None:
        if workflow.trigger != Workflow.Trigger.WEBHOOK:
            return None
        return settings.PUBLIC_BASE_URL + reverse("workflow-hook", kwargs={"workflow_id": workflow.pk})

    def create(self, validated_data):
        with refusals_as_4xx():
            return services.save_workflow(Workflow(), **validated_data)

    def update(self, instance, validated_data):
        with refusals_as_4xx():
            return services.save_workflow(instance, **validated_data)


class WorkflowRequestSchema(OpenApiSerializerExtension):
    """The request body as one variant per trigger and record type, each with its own conditions and actions.

    A full body (POST, PUT) matches exactly one variant; a partial one (PATCH) any variant, since the
    stored workflow supplies the rest (a change that fits no stored state is a 409).
    """

    target_class = WorkflowSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return schema
        partial = getattr(self.target, "partial", False)
        variants = [
            self._variant(schema, triggers, record_type, schedule, partial=partial)
            for triggers, record_type, schedule in _combinations()
        ]
        # The common properties stay at the top: drf-spectacular keeps a component, and requires the
        # body, only from them.
        if partial:
            return {"type": "object", "properties": schema["properties"], "anyOf": variants}
        return {
            "type": "object",
            "properties": schema["properties"],
            "required": ["name", "trigger", "actions"],
            "oneOf": variants,
        }

    @staticmethod
    def _variant(schema, triggers, record_type_name, schedule, *, partial):
        record_type = record_type_named(record_type_name) if record_type_name else None
        events = any(trigger in Workflow.RECORD_TRIGGERS for trigger in triggers)
        properties = {
            **schema["properties"],
            # Patterns rather than enums, which drf-spectacular would lift into the one named component
            # of all the field's values, and so let every variant take every trigger.
            "trigger": {"type": "string", "pattern": f"^({'|'.join(triggers)})$"},
            "record_type": {"type": "string", "pattern": f"^{record_type_name or ''}$"},
            "conditions": conditions_schema(record_type, events=events),
            "actions": actions_schema(record_type),
        }
        required = ["name", "trigger", "actions"]
        if record_type_name:
            required.append("record_type")
        if schedule == "interval":
            properties["schedule_interval_seconds"] = {
                "type": "integer",
                "minimum": MIN_INTERVAL_SECONDS,
                "maximum": MAX_INTERVAL_SECONDS,
            }
            properties["schedule_cron"] = {"type": "string", "maxLength": 0}
            required.append("schedule_interval_seconds")
        elif schedule == "cron":
            # Null only: no integer lies in an empty range (a null-only enum would be lifted and emptied).
            properties["schedule_interval_seconds"] = {
                "type": "integer",
                "nullable": True,
                "minimum": 1,
                "maximum": 0,
            }
            properties["schedule_cron"] = {"type": "string", "pattern": CRON_PATTERN}
            required.append("schedule_cron")
        variant = {"type": "object", "properties": properties}
        if not partial:
            variant["required"] = required
        return variant


def _combinations():
    """(triggers, record type, schedule kind) a workflow may combine."""
    names = sorted(record_types())
    on_record = [str(trigger) for trigger in Workflow.RECORD_TRIGGERS]
    on_demand = [str(Workflow.Trigger.MANUAL), str(Workflow.Trigger.WEBHOOK)]
    yield from ((on_record, name, None) for name in names)
    yield from ((on_demand, name, None) for name in [None, *names])
    yield [str(Workflow.Trigger.SCHEDULE)], None, "interval"
    yield [str(Workflow.Trigger.SCHEDULE)], None, "cron"


class StepSerializer(StrictSerializer):
    """One step of an execution's log."""

    index = serializers.IntegerField()
    type = serializers.ChoiceField(choices=list(ACTION_TYPES))
    params = serializers.JSONField(help_text="The action's parameters when the execution started.")
    status = serializers.ChoiceField(choices=StepStatus.choices)
    output = serializers.JSONField(allow_null=True, help_text="What the step did, e.g. the e-mail it queued.")
    error = serializers.CharField(allow_blank=True)
    attempts = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="When a failed step is retried, or a wait ends."
    )


EXECUTION_FIELDS = [
    *RECORD_FIELDS,
    "workflow",
    "status",
    "trigger",
    "trigger_payload",
    "record_type",
    "record_id",
    "attempts",
    "started_at",
    "finished_at",
    "resume_at",
    "error",
    "triggered_by",
]


class WorkflowExecutionSerializer(TenantModelSerializer):
    """One run of a workflow, without its step log."""

    class Meta:
        model = WorkflowExecution
        fields = EXECUTION_FIELDS
        read_only_fields = fields


class WorkflowExecutionPageSerializer(StrictSerializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = WorkflowExecutionSerializer(many=True)


class WorkflowExecutionDetailSerializer(WorkflowExecutionSerializer):
    """One run of a workflow with each step's status, output, error, attempts and times."""

    steps = StepSerializer(many=True, read_only=True)

    class Meta(WorkflowExecutionSerializer.Meta):
        fields = [*EXECUTION_FIELDS, "steps"]
        read_only_fields = fields


class WorkflowRunSerializer(StrictSerializer):
    record_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="The record to act on (workflows with a record type)."
    )
    payload = serializers.DictField(
        required=False, help_text="Data conditions are tested against (workflows without a record type)."
    )


class WorkflowTestRunSerializer(WorkflowRunSerializer):
    changed_fields = serializers.DictField(
        child=serializers.ListField(min_length=2, max_length=2, allow_empty=False),
        required=False,
        help_text='Simulate a record update for changed / changed_to, e.g. {"stage": ["qualified", "won"]}.',
    )


class ConditionResultSerializer(StrictSerializer):
    field = serializers.CharField()
    op = serializers.CharField()
    value = serializers.JSONField(allow_null=True)
    actual = serializers.JSONField(allow_null=True, help_text="The value found on the record or payload.")
    met = serializers.BooleanField(
        allow_null=True, help_text="null: a change condition with no change given."
    )


class ActionPreviewSerializer(StrictSerializer):
    index = serializers.IntegerField()
    type = serializers.CharField()
    would = serializers.JSONField(
        allow_null=True,
        help_text=(
            "What the step would do: e-mail recipient and subject, SMS recipient and body, notification "
            "recipients, field change old -> new, webhook URL and payload, wait seconds."
        ),
    )
    error = serializers.CharField(allow_blank=True, help_text="Why the step would fail, if it would.")


class DryRunSerializer(StrictSerializer):
    conditions_met = serializers.BooleanField()
    conditions = ConditionResultSerializer(many=True)
    actions = ActionPreviewSerializer(many=True)


class SecretSerializer(StrictSerializer):
    secret = serializers.CharField(
        help_text="HMAC-SHA256 key of X-CRM-Signature on inbound and outbound webhooks; keep it private."
    )


class WorkflowFilter(django_filters.FilterSet):
    trigger = django_filters.MultipleChoiceFilter(choices=Workflow.Trigger.choices)
    record_type = django_filters.CharFilter()
    is_active = BooleanFilter()
    user = django_filters.UUIDFilter(field_name="user_id")

    class Meta:
        model = Workflow
        fields = ["trigger", "record_type", "is_active", "user"]


EXECUTION_ID = OpenApiParameter("execution_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class WorkflowViewSet(TenantViewSet):
    """Workflows: what triggers them, their conditions and actions, dry runs, runs and executions."""

    model = Workflow
    serializer_class = WorkflowSerializer
    filterset_class = WorkflowFilter
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at", "updated_at", "next_run_at"]
    ordering = ["name"]

    def perform_destroy(self, instance):
        services.delete_workflow(instance)

    def _request_body(self, serializer_class):
        body = serializer_class(data=self.request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data

    @extend_schema(
        request=WorkflowTestRunSerializer, responses={200: DryRunSerializer, 400: DetailSerializer}
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Dry run: evaluate the conditions and show what each action would do, changing nothing."""
        workflow = self.get_object()
        body = self._request_body(WorkflowTestRunSerializer)
        with refusals_as_4xx():
            result = services.dry_run(workflow, **body)
        return Response(DryRunSerializer(result).data)

    @extend_schema(
        request=WorkflowRunSerializer,
        responses={202: WorkflowExecutionDetailSerializer, 400: DetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Run now on a record or a payload; the execution runs in the background."""
        workflow = self.get_object()
        body = self._request_body(WorkflowRunSerializer)
        with refusals_as_4xx():
            execution = services.run_manually(workflow, user=request.user, **body)
        return Response(
            WorkflowExecutionDetailSerializer(execution, context=self.get_serializer_context()).data,
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=WorkflowExecution.Status.values),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: WorkflowExecutionPageSerializer, 400: DetailSerializer},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def executions(self, request, pk=None):
        """The workflow's executions, newest first, optionally of one status."""
        workflow = self.get_object()
        executions = WorkflowExecution.objects.filter(workflow=workflow).order_by("-created_at", "-pk")
        executions = narrowed_to_status(executions, request, WorkflowExecution.Status.values)
        page = self.paginate_queryset(executions)
        return self.get_paginated_response(
            WorkflowExecutionSerializer(page, many=True, context=self.get_serializer_context()).data
        )

    def _execution(self, execution_id) -> WorkflowExecution:
        workflow = self.get_object()
        execution = (
            WorkflowExecution.objects.filter(workflow=workflow, pk=parse_uuid(execution_id))
            .select_related("workflow")
            .first()
        )
        if execution is None:
            raise NotFound("No such execution of this workflow.")
        return execution

    @extend_schema(
        operation_id="workflows_executions_detail",
        parameters=[EXECUTION_ID],
        responses={200: WorkflowExecutionDetailSerializer},
    )
    @action(detail=True, methods=["get"], url_path=r"executions/(?P<execution_id>[^/.]+)", filter_backends=[])
    def execution(self, request, pk=None, execution_id=None):
        """One execution with its step log."""
        execution = self._execution(execution_id)
        return Response(
            WorkflowExecutionDetailSerializer(execution, context=self.get_serializer_context()).data
        )

    @extend_schema(
        parameters=[EXECUTION_ID],
        request=None,
        responses={200: WorkflowExecutionDetailSerializer, 400: DetailSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"executions/(?P<execution_id>[^/.]+)/cancel",
        filter_backends=[],
    )
    def cancel(self, request, pk=None, execution_id=None):
        """Stop a pending or running execution; the steps it has not run are skipped."""
        execution = self._execution(execution_id)
        execution = engine.cancel_execution(execution, user=request.user)
        return Response(
            WorkflowExecutionDetailSerializer(execution, context=self.get_serializer_context()).data
        )

    @extend_schema(responses={200: SecretSerializer})
    @action(detail=True, methods=["get"], filter_backends=[])
    def secret(self, request, pk=None):
        """The workflow's signing secret, for the sender of its inbound webhooks and its receivers."""
        return Response(SecretSerializer({"secret": self._managed_workflow().secret}).data)

    @extend_schema(request=None, responses={200: SecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """Replace the signing secret; requests signed with the old one are refused from now on."""
        return Response(SecretSerializer({"secret": services.rotate_secret(self._managed_workflow())}).data)

    def _managed_workflow(self):
        """The workflow, when the requester owns it or manages the company; its secret is theirs only."""
        workflow = self.get_object()
        user = self.request.user
        if not (user.can_manage_company or workflow.user_id == user.pk):
            raise PermissionDenied(
                "Only the workflow's owner or a company owner or admin may see its secret."
            )
        return workflow


routes = [("workflows", WorkflowViewSet, "workflow")]
