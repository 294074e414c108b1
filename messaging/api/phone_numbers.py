"""REST API of the company's phone numbers: /api/sms/phone-numbers."""

import django_filters
from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.filters import BooleanFilter
from tenancy.api import CurrentUserOnCreate, TenantModelSerializer, TenantRelatedField, TenantViewSet

from ..models import PhoneNumber
from ..services import phone_numbers as services
from .permissions import CompanyManagersWrite

User = get_user_model()

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]


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
    twilio_sid = serializers.RegexField(
        r"^PN[0-9a-fA-F]{32}$",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "A Twilio phone number SID is PN followed by 32 hex digits."},
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
        except services.NumberAlreadyRegistered as error:
            raise serializers.ValidationError({"number": [str(error)]}) from error

    def update(self, instance, validated_data):
        try:
            return services.update_number(instance, **validated_data)
        except services.NumberAlreadyRegistered as error:
            raise serializers.ValidationError({"number": [str(error)]}) from error


class PhoneNumberFilter(django_filters.FilterSet):
    sms_enabled = BooleanFilter()
    voice_enabled = BooleanFilter()
    user = django_filters.UUIDFilter(field_name="user_id")

    class Meta:
        model = PhoneNumber
        fields = ["sms_enabled", "voice_enabled", "user"]


class PhoneNumberViewSet(TenantViewSet):
    """The company's numbers; everyone in the company reads, owners and admins manage them."""

    model = PhoneNumber
    serializer_class = PhoneNumberSerializer
    permission_classes = [CompanyManagersWrite]
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


routes = [("sms/phone-numbers", PhoneNumberViewSet, "phone-number")]
