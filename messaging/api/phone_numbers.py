"""REST API of the company's phone numbers: /api/sms/phone-numbers."""

import django_filters
from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, Throttled

from core.api.errors import BadRequest, DetailSerializer
from core.api.filters import BooleanFilter
from tenancy.api import CurrentUserOnCreate, TenantModelSerializer, TenantRelatedField, TenantViewSet
from tenancy.context import require_company_id

from ..models import PhoneNumber
from ..services import phone_numbers as services
from ..throttles import registration_wait

User = get_user_model()

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]
TOO_MANY_REGISTRATIONS = "Too many phone number registrations by this user or for this company."


class TwilioUnreachable(APIException):
    """503: Twilio could not be asked whether the company's account owns the number."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "twilio_unreachable"


class TwilioAnsweredBadly(APIException):
    """502: Twilio answered the ownership look-up with an error."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "twilio_error"


def registration_error(error: Exception) -> APIException:
    """A refused registration as the API answers it: 400 on `number` or in `detail`, 502 or 503."""
    if isinstance(error, services.NumberRefused):
        return serializers.ValidationError({"number": [str(error)]})
    if isinstance(error, services.TwilioNotReady):
        return BadRequest(str(error))
    return TwilioAnsweredBadly(str(error)) if error.reached else TwilioUnreachable(str(error))


REGISTRATION_ERRORS = (services.NumberRefused, services.TwilioNotReady, services.TwilioUnavailable)


@extend_schema_field({"type": "string", "pattern": services.TYPED_NUMBER_PATTERN, "maxLength": 32})
class PhoneNumberInputField(serializers.CharField):
    """A number as people type it, stored in E.164 without separators."""

    def to_internal_value(self, data):
        return services.normalize_number(super().to_internal_value(data))


class PhoneNumberSerializer(TenantModelSerializer):
    """A company number; calls and texts to it belong to the company and reach its default owner."""

    number = PhoneNumberInputField(
        max_length=32,
        help_text="In E.164 form, e.g. +14155550100 (spaces, dashes and parentheses are dropped).",
    )
    user = TenantRelatedField(
        model=User,
        required=False,
        allow_null=True,
        default=CurrentUserOnCreate(),
        help_text="Default owner: a user of the company, the creator unless another is named.",
    )
    twilio_sid = serializers.CharField(
        read_only=True,
        help_text="The number's SID (PN...) in the company's Twilio account, as Twilio answered it.",
    )

    class Meta:
        model = PhoneNumber
        fields = [
            *RECORD_FIELDS,
            "number",
            "friendly_name",
            "sms_enabled",
            "voice_enabled",
            "user",
            "twilio_sid",
        ]
        read_only_fields = RECORD_FIELDS

    def validate_number(self, value):
        for validator in PhoneNumber._meta.get_field("number").validators:
            validator(value)
        return value

    def create(self, validated_data):
        try:
            return services.register_number(**validated_data)
        except REGISTRATION_ERRORS as error:
            raise registration_error(error) from error

    def update(self, instance, validated_data):
        try:
            return services.update_number(instance, **validated_data)
        except REGISTRATION_ERRORS as error:
            raise registration_error(error) from error


class PhoneNumberFilter(django_filters.FilterSet):
    sms_enabled = BooleanFilter()
    voice_enabled = BooleanFilter()
    user = django_filters.UUIDFilter(field_name="user_id")

    class Meta:
        model = PhoneNumber
        fields = ["sms_enabled", "voice_enabled", "user"]


REGISTRATION_DESCRIPTION = (
    "A number is registered only when the company's Twilio account owns it (Twilio's "
    "IncomingPhoneNumbers is asked; its PN SID is stored as `twilio_sid`), and no company holds it: "
    "registered, or deleted by another company within PHONE_NUMBER_RESERVATION_DAYS. A company may "
    "register its own deleted number again at any time. Changing `number` registers the new number "
    "the same way and keeps the old one reserved for the company. Registrations are limited per user "
    "and per company (429 with Retry-After)."
)
REGISTRATION_RESPONSES = {
    429: OpenApiResponse(DetailSerializer, description="Too many registrations by this user or company."),
    502: OpenApiResponse(
        DetailSerializer, description="Twilio answered the ownership look-up with an error."
    ),
    503: OpenApiResponse(DetailSerializer, description="Twilio could not be reached; nothing was stored."),
}


@extend_schema_view(
    create=extend_schema(
        description=REGISTRATION_DESCRIPTION, responses={201: PhoneNumberSerializer, **REGISTRATION_RESPONSES}
    ),
    update=extend_schema(
        description=REGISTRATION_DESCRIPTION, responses={200: PhoneNumberSerializer, **REGISTRATION_RESPONSES}
    ),
    partial_update=extend_schema(
        description=REGISTRATION_DESCRIPTION, responses={200: PhoneNumberSerializer, **REGISTRATION_RESPONSES}
    ),
)
class PhoneNumberViewSet(TenantViewSet):
    """The company's numbers; everyone in the company reads, owners and admins manage them."""

    model = PhoneNumber
    serializer_class = PhoneNumberSerializer
    filterset_class = PhoneNumberFilter
    # friendly_name first: the isolation matrix searches on the first text field and gives the
    # other company's row the same value, which a number (unique platform-wide) cannot have.
    search_fields = ["friendly_name", "number"]
    ordering_fields = ["number", "friendly_name", "created_at", "updated_at"]
    ordering = ["number"]

    def safely_get_queryset(self, queryset):
        return queryset.select_related("user")

    def server_assigned_fields(self) -> dict:
        # `user` is the default owner, chosen in the body; CurrentUserOnCreate makes it the creator.
        return {}

    def perform_create(self, serializer):
        self.count_registration()
        super().perform_create(serializer)

    def perform_update(self, serializer):
        number = serializer.validated_data.get("number")
        if number is not None and number != serializer.instance.number:
            self.count_registration()
        super().perform_update(serializer)

    def count_registration(self) -> None:
        """Count a registration attempt of valid input for the user and the company; 429 over the limit."""
        wait = registration_wait(self.request, require_company_id())
        if wait is not None:
            raise Throttled(wait, detail=TOO_MANY_REGISTRATIONS)


routes = [("sms/phone-numbers", PhoneNumberViewSet, "phone-number")]
