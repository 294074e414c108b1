"""REST API of e-mail campaigns: /api/email-campaigns, sent now or scheduled, with their recipients."""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import DetailSerializer, StrictSerializer
from core.api.filters import narrowed_to_status
from tenancy.api import TenantModelSerializer, TenantViewSet

from ..models import Email, EmailCampaign
from ..services import campaigns
from .email import EmailSerializer

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]


class CampaignCountsSerializer(StrictSerializer):
    queued = serializers.IntegerField()
    sending = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    total = serializers.IntegerField()


# The /api/contacts filters a campaign takes, with the types their query parameters have there; an
# empty value filters nothing (and is not stored).
RECIPIENT_FILTER_SCHEMA = {
    "type": "object",
    "properties": {
        "account": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "maxLength": 0}]},
        "owner": {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "maxLength": 0}]},
        "email": {"type": "string"},
        "created_after": {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "maxLength": 0}]
        },
        "created_before": {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "maxLength": 0}]
        },
        campaigns.RECIPIENT_SEARCH_KEY: {"type": "string"},
    },
    "additionalProperties": False,
}


@extend_schema_field(RECIPIENT_FILTER_SCHEMA)
class RecipientFilterField(serializers.JSONField):
    """A campaign's contact filters: an object of /api/contacts filter names to text values."""


class EmailCampaignSerializer(TenantModelSerializer):
    """A template sent to the contacts a filter selects, now or at a scheduled time."""

    recipient_filter = RecipientFilterField(
        required=False,
        help_text=(
            "Contact filters as /api/contacts query parameters: account, owner, email, created_after, "
            "created_before, search."
        ),
    )
    counts = serializers.SerializerMethodField()

    class Meta:
        model = EmailCampaign
        fields = [
            *RECORD_FIELDS,
            "user",
            "name",
            "template",
            "recipient_filter",
            "status",
            "scheduled_at",
            "started_at",
            "completed_at",
            "counts",
        ]
        read_only_fields = [*RECORD_FIELDS, "user", "status", "scheduled_at", "started_at", "completed_at"]

    @extend_schema_field(CampaignCountsSerializer)
    def get_counts(self, campaign):
        return campaigns.campaign_counts(campaign)

    def validate_recipient_filter(self, value):
        try:
            return campaigns.clean_recipient_filter(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error

    def create(self, validated_data):
        return campaigns.save_campaign(EmailCampaign(), **validated_data)

    def update(self, instance, validated_data):
        return campaigns.save_campaign(instance, **validated_data)


class CampaignScheduleSerializer(StrictSerializer):
    scheduled_at = serializers.DateTimeField(help_text="When to send; must be in the future.")


class CampaignRecipientPageSerializer(StrictSerializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EmailSerializer(many=True, help_text="The campaign's e-mails, one per recipient.")


class RecipientPreviewSerializer(StrictSerializer):
    contact = serializers.UUIDField()
    full_name = serializers.CharField()
    email = serializers.EmailField()


class RecipientPreviewPageSerializer(StrictSerializer):
    count = serializers.IntegerField(help_text="How many addresses the campaign would reach.")
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RecipientPreviewSerializer(many=True)


class EmailCampaignFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=EmailCampaign.Status.choices)
    template = django_filters.UUIDFilter(field_name="template_id")

    class Meta:
        model = EmailCampaign
        fields = ["status", "template"]


CAMPAIGN_ACTION_RESPONSES = {200: EmailCampaignSerializer, 400: DetailSerializer}


class EmailCampaignViewSet(TenantViewSet):
    """E-mail campaigns: a template, recipients chosen by a contact filter, sent now or scheduled."""

    model = EmailCampaign
    serializer_class = EmailCampaignSerializer
    filterset_class = EmailCampaignFilter
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "scheduled_at", "completed_at"]
    ordering = ["-created_at"]

    def safely_get_queryset(self, queryset):
        return campaigns.with_counts(queryset)

    def perform_destroy(self, instance):
        campaigns.delete_campaign(instance)

    def _campaign_response(self):
        """The campaign as it is now, with counts read afresh."""
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=None, responses=CAMPAIGN_ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        """Start sending now to every contact the filter selects."""
        campaigns.send_campaign_now(self.get_object())
        return self._campaign_response()

    @extend_schema(request=CampaignScheduleSerializer, responses=CAMPAIGN_ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        """Send at a time in the future (a scheduled campaign may be moved)."""
        campaign = self.get_object()
        body = CampaignScheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        campaigns.schedule_campaign(campaign, **body.validated_data)
        return self._campaign_response()

    @extend_schema(request=None, responses=CAMPAIGN_ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a campaign before it is sent; e-mails already sent stay sent."""
        campaigns.cancel_campaign(self.get_object())
        return self._campaign_response()

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=Email.Status.values),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: CampaignRecipientPageSerializer},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def recipients(self, request, pk=None):
        """Each recipient of the campaign with the status of their e-mail."""
        campaign = self.get_object()
        emails = Email.objects.filter(campaign=campaign).order_by("to_email")
        emails = narrowed_to_status(emails, request, Email.Status.values)
        page = self.paginate_queryset(emails)
        return self.get_paginated_response(
            EmailSerializer(page, many=True, context=self.get_serializer_context()).data
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: RecipientPreviewPageSerializer},
    )
    @action(detail=True, methods=["get"], url_path="preview-recipients", filter_backends=[])
    def preview_recipients(self, request, pk=None):
        """How many addresses the campaign's filter reaches now, and who they are, a page at a time."""
        campaign = self.get_object()
        page = self.paginate_queryset(campaigns.recipient_contacts(campaign.recipient_filter))
        rows = [
            {"contact": contact.pk, "full_name": contact.full_name, "email": contact.address}
            for contact in page
        ]
        return self.get_paginated_response(RecipientPreviewSerializer(rows, many=True).data)


routes = [("email-campaigns", EmailCampaignViewSet, "email-campaign")]
