"""REST API of e-mails: /api/emails, composed and sent, then read for their status."""

import django_filters
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.api import (
    NON_BLANK_ONE_LINE_PATTERN,
    Conflict,
    DetailSerializer,
    OneLineTextField,
    StrictSerializer,
)
from core.api.filters import IsoDateTimeFilter
from core.text import NUL_ESCAPE
from crm.models import Contact, Deal
from tenancy.api import TenantModelSerializer, TenantRelatedField, TenantViewSet

from ..models import Email, EmailTemplate
from ..services import email as email_service

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]


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
                    "body_text": {"type": "string", "pattern": rf"^[^{NUL_ESCAPE}]+$"},
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


routes = [("emails", EmailViewSet, "email")]
