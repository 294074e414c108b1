"""REST API of calls: the call log and click-to-call, at /api/calls."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.api import Conflict, StrictSerializer
from core.api.filters import BooleanFilter, IsoDateTimeFilter
from core.validators import e164
from crm.models import Contact
from messaging.models import Direction
from tenancy.api import TenantModelSerializer, TenantRelatedField, TenantViewSet

from .. import services
from ..models import Call

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]


class CallSerializer(TenantModelSerializer):
    """One call of the log; Twilio reports everything but the notes and the contact."""

    contact = TenantRelatedField(model=Contact, required=False, allow_null=True)
    contact_name = serializers.CharField(source="contact", read_only=True, allow_null=True)

    class Meta:
        model = Call
        fields = [
            *RECORD_FIELDS,
            "direction",
            "from_number",
            "to_number",
            "status",
            "started_at",
            "answered_at",
            "ended_at",
            "duration_seconds",
            "recording_url",
            "recording_duration_seconds",
            "is_voicemail",
            "error_message",
            "twilio_sid",
            "phone_number",
            "user",
            "contact",
            "contact_name",
            "notes",
        ]
        read_only_fields = [field for field in fields if field not in {"contact", "notes"}]

    def update(self, instance, validated_data):
        return services.update_call(instance, changes=validated_data)


class CallCreateSerializer(StrictSerializer):
    """Click-to-call: your phone rings first, then Twilio connects you to the contact or number."""

    contact = TenantRelatedField(
        model=Contact, required=False, allow_null=True, help_text="The contact to call, at their phone."
    )
    to = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=16,
        validators=[e164],
        help_text="The number to call (E.164); defaults to the contact's phone.",
    )
    from_number = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=16,
        validators=[e164],
        help_text=(
            "A voice-enabled number of your company to call from; defaults to your own number, "
            "else the company's first voice-enabled number."
        ),
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="")


class CallFilter(django_filters.FilterSet):
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    status = django_filters.MultipleChoiceFilter(choices=Call.Status.choices)
    user = django_filters.UUIDFilter(field_name="user_id")
    contact = django_filters.UUIDFilter(field_name="contact_id")
    phone_number = django_filters.UUIDFilter(field_name="phone_number_id")
    is_voicemail = BooleanFilter()
    started_after = IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = Call
        fields = ["direction", "status", "user", "contact", "phone_number", "is_voicemail"]


class CallViewSet(TenantViewSet):
    """The company's call log; POST places a click-to-call."""

    model = Call
    serializer_class = CallSerializer
    filterset_class = CallFilter
    search_fields = ["from_number", "to_number", "notes", "contact__first_name", "contact__last_name"]
    ordering_fields = ["created_at", "started_at", "ended_at", "duration_seconds", "status"]
    ordering = ["-created_at"]

    def safely_get_queryset(self, queryset):
        return queryset.select_related("contact")

    def get_serializer_class(self):
        return CallCreateSerializer if self.action == "create" else CallSerializer

    @extend_schema(request=CallCreateSerializer, responses={201: CallSerializer})
    def create(self, request, *args, **kwargs):
        """Place a call: ring the requester's phone, then connect them to the contact or number."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            call = services.start_click_to_call(request.user, **serializer.validated_data)
        except services.CallRefused as refused:
            if refused.field:
                raise ValidationError({refused.field: [str(refused)]}) from refused
            # No own phone, no calling number, no Twilio account: the company's setup, not the request.
            raise Conflict(str(refused)) from refused
        body = CallSerializer(call, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)


routes = [("calls", CallViewSet, "call")]
