"""REST API of e-mail: /api/emails, /api/email-templates and /api/email-campaigns."""

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import (
    NON_BLANK_ONE_LINE_PATTERN,
    BadRequest,
    Conflict,
    DetailSerializer,
    OneLineTextField,
    StrictSerializer,
)
from core.api.filters import IsoDateTimeFilter
from crm.models import Contact, Deal
from tenancy.api import TenantModelSerializer, TenantRelatedField, TenantViewSet

from ..models import Email, EmailCampaign, EmailTemplate
from ..services import email as email_service

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]


# Templates


class EmailTemplateSerializer(TenantModelSerializer):
    """A reusable e-mail whose merge fields such as {{ contact.first_name }} are filled in when sent."""

    merge_fields = serializers.SerializerMethodField(help_text="Merge fields the template uses.")
    subject = OneLineTextField(max_length=300)

    class Meta:
        model = EmailTemplate
        fields = [*RECORD_FIELDS, "user", "name", "subject", "body_text", "body_html", "merge_fields"]
        read_only_fields = [*RECORD_FIELDS, "user"]

    def get_merge_fields(self, template) -> list[str]:
        return list(
            dict.fromkeys(
                key
                for part in email_service.TEMPLATE_PARTS
                for key in email_service.merge_fields_in(getattr(template, part))
            )
        )

    def create(self, validated_data):
        return email_service.save_template(EmailTemplate(), **validated_data)

    def update(self, instance, validated_data):
        return email_service.save_template(instance, **validated_data)


class MergeFieldSerializer(StrictSerializer):
    placeholder = serializers.CharField(
        help_text="What to write in a template, e.g. {{ contact.first_name }}."
    )
    key = serializers.CharField()
    label = serializers.CharField()


class TemplatePreviewRequestSerializer(StrictSerializer):
    contact = TenantRelatedField(model=Contact, required=False, allow_null=True)
    deal = TenantRelatedField(model=Deal, required=False, allow_null=True)


class RenderedEmailSerializer(StrictSerializer):
    subject = serializers.CharField()
    body_text = serializers.CharField()
    body_html = serializers.CharField(allow_blank=True)


class EmailTemplateViewSet(TenantViewSet):
    """E-mail templates with merge fields, rendered safely."""

    model = EmailTemplate
    serializer_class = EmailTemplateSerializer
    search_fields = ["name", "subject"]
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    def perform_destroy(self, instance):
        email_service.delete_template(instance)

    @extend_schema(
        request=TemplatePreviewRequestSerializer,
        responses={200: RenderedEmailSerializer, 400: DetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        """The template rendered for a contact and a deal of the company, with you as the sender."""
        template = self.get_object()
        body = TemplatePreviewRequestSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        rendered = email_service.preview_template(template, sender=request.user, **body.validated_data)
        return Response(RenderedEmailSerializer(rendered).data)

    @extend_schema(responses={200: MergeFieldSerializer(many=True)})
    @action(
        detail=False,
        methods=["get"],
        url_path="merge-fields",
        pagination_class=None,
        filter_backends=[],
    )
    def merge_fields(self, request):
        """Every merge field a template may use."""
        rows = [
            {"placeholder": f"{{{{ {field.key} }}}}", "key": field.key, "label": field.label}
            for field in email_service.MERGE_FIELDS
        ]
        return Response(MergeFieldSerializer(rows, many=True).data)


# E-mails


class EmailSerializer(TenantModelSerializer):
    """One e-mail to one recipient, with its sending status; never changed after it is queued."""

    class Meta:
        model = Email
        fields = [
            *RECORD_FIELDS,
            "user",
            "contact",
            "deal",
            "template",
            "campaign",
            "to_email",
            "subject",
            "body_text",
            "body_html",
            "status",
            "error_message",
            "message_id",
            "sent_at",
            "attempts",
        ]
        read_only_fields = fields


class EmailComposeSerializer(StrictSerializer):
    """A new e-mail: a recipient (to_email or contact) and either a template or a subject and body."""

    to_email = serializers.EmailField(
        required=False, allow_blank=True, help_text="Defaults to the contact's address."
    )
    contact = TenantRelatedField(
        model=Contact, required=False, allow_null=True, help_text="Defaults to the deal's contact."
    )
    deal = TenantRelatedField(model=Deal, required=False, allow_null=True)
    template = TenantRelatedField(
        model=EmailTemplate,
        required=False,
        allow_null=True,
        help_text="Rendered for the contact, deal and you for each part not given.",
    )
    subject = OneLineTextField(required=False, allow_blank=True, max_length=300)
    body_text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    body_html = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class EmailComposeRequestSchema(OpenApiSerializerExtension):
    """The compose body with its two rules: a recipient is named; a template, or a subject and body, given."""

    target_class = EmailComposeSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return schema
        recipient = [
            {"required": ["to_email"], "properties": {"to_email": {"type": "string", "format": "email"}}},
            {"required": ["contact"], "properties": {"contact": {"type": "string", "format": "uuid"}}},
            {"required": ["deal"], "properties": {"deal": {"type": "string", "format": "uuid"}}},
        ]
        content = [
            {"required": ["template"], "properties": {"template": {"type": "string", "format": "uuid"}}},
            {
                "required": ["subject", "body_text"],
                "properties": {
                    "subject": {"type": "string", "pattern": NON_BLANK_ONE_LINE_PATTERN},
                    # Not trimmed: any text but NUL counts as a body, a space included.
                    "body_text": {"type": "string", "pattern": r"^[^\x00]+$"},
                },
            },
        ]
        return {**schema, "allOf": [{"anyOf": recipient}, {"anyOf": content}]}


class ComposeBodyRequiredSchema(AutoSchema):
    """The compose body is required: no property is required alone (see EmailComposeRequestSchema)."""

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body is not None and self.view.action == "create":
            body["required"] = True
        return body


class EmailFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Email.Status.choices)
    contact = django_filters.UUIDFilter(field_name="contact_id")
    deal = django_filters.UUIDFilter(field_name="deal_id")
    campaign = django_filters.UUIDFilter(field_name="campaign_id")
    template = django_filters.UUIDFilter(field_name="template_id")
    user = django_filters.UUIDFilter(field_name="user_id")
    sent_after = IsoDateTimeFilter(field_name="sent_at", lookup_expr="gte")
    sent_before = IsoDateTimeFilter(field_name="sent_at", lookup_expr="lt")

    class Meta:
        model = Email
        fields = ["status", "contact", "deal", "campaign", "template", "user"]


class EmailViewSet(TenantViewSet):
    """E-mails: compose and send, read their status; an e-mail cannot be changed once queued."""

    model = Email
    serializer_class = EmailSerializer
    filterset_class = EmailFilter
    schema = ComposeBodyRequiredSchema()
    search_fields = ["to_email", "subject"]
    ordering_fields = ["created_at", "sent_at", "status", "to_email"]
    ordering = ["-created_at"]

    def get_serializer_class(self):
        if self.action in {"create", "update", "partial_update"}:
            return EmailComposeSerializer
        return EmailSerializer

    @extend_schema(request=EmailComposeSerializer, responses={201: EmailSerializer})
    def create(self, request, *args, **kwargs):
        """Record the e-mail as queued and send it in the background."""
        compose = self.get_serializer(data=request.data)
        compose.is_valid(raise_exception=True)
        email = email_service.compose_email(sender=request.user, **compose.validated_data)
        return Response(
            EmailSerializer(email, context=self.get_serializer_context()).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=EmailComposeSerializer,
        responses={409: DetailSerializer},
        description="Always a 409: an e-mail cannot be changed once it is queued. Compose a new one.",
    )
    def update(self, request, *args, **kwargs):
        """Refused: e-mails are a record of what was sent."""
        self.get_object()
        # Report bad or foreign references per field first, as every other endpoint does.
        self.get_serializer(data=request.data, partial=kwargs.get("partial", False)).is_valid(
            raise_exception=True
        )
        raise Conflict("An e-mail cannot be changed once it is queued; compose a new one instead.")

    @extend_schema(
        request=EmailComposeSerializer,
        responses={409: DetailSerializer},
        description="Always a 409: an e-mail cannot be changed once it is queued. Compose a new one.",
    )
    def partial_update(self, request, *args, **kwargs):
        """Refused: e-mails are a record of what was sent."""
        return super().partial_update(request, *args, **kwargs)


# Campaigns


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
        email_service.RECIPIENT_SEARCH_KEY: {"type": "string"},
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
        return email_service.campaign_counts(campaign)

    def validate_recipient_filter(self, value):
        try:
            return email_service.clean_recipient_filter(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error

    def create(self, validated_data):
        return email_service.save_campaign(EmailCampaign(), **validated_data)

    def update(self, instance, validated_data):
        return email_service.save_campaign(instance, **validated_data)


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
        return email_service.with_counts(queryset)

    def perform_destroy(self, instance):
        email_service.delete_campaign(instance)

    def _campaign_response(self):
        """The campaign as it is now, with counts read afresh."""
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=None, responses=CAMPAIGN_ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        """Start sending now to every contact the filter selects."""
        email_service.send_campaign_now(self.get_object())
        return self._campaign_response()

    @extend_schema(request=CampaignScheduleSerializer, responses=CAMPAIGN_ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def schedule(self, request, pk=None):
        """Send at a time in the future (a scheduled campaign may be moved)."""
        campaign = self.get_object()
        body = CampaignScheduleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        email_service.schedule_campaign(campaign, **body.validated_data)
        return self._campaign_response()

    @extend_schema(request=None, responses=CAMPAIGN_ACTION_RESPONSES)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a campaign before it is sent; e-mails already sent stay sent."""
        email_service.cancel_campaign(self.get_object())
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
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in Email.Status.values:
                raise BadRequest(f"status is one of: {', '.join(Email.Status.values)}.")
            emails = emails.filter(status=wanted)
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
        page = self.paginate_queryset(email_service.recipient_contacts(campaign.recipient_filter))
        rows = [
            {"contact": contact.pk, "full_name": contact.full_name, "email": contact.address}
            for contact in page
        ]
        return self.get_paginated_response(RecipientPreviewSerializer(rows, many=True).data)


routes = [
    ("emails", EmailViewSet, "email"),
    ("email-templates", EmailTemplateViewSet, "email-template"),
    ("email-campaigns", EmailCampaignViewSet, "email-campaign"),
]
