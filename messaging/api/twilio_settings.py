"""REST API of the company's Twilio account: /api/twilio-settings, one per company."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import Conflict, StrictSerializer
from tenancy.api import TenantModelSerializer, TenantViewSet

from ..models import TwilioSettings
from ..services import twilio_settings as services

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]
TEST_FIELDS = ["last_tested_at", "last_test_ok", "last_test_error"]


class TwilioSettingsSerializer(TenantModelSerializer):
    """The company's Twilio account; the auth token is accepted but never returned."""

    auth_token = serializers.CharField(
        write_only=True,
        required=False,
        max_length=128,
        style={"input_type": "password"},
        help_text="Leave it out to keep the stored token.",
    )
    auth_token_hint = serializers.CharField(
        read_only=True, help_text="The token's last four characters, to recognise it."
    )

    class Meta:
        model = TwilioSettings
        fields = [*RECORD_FIELDS, "account_sid", "auth_token", "auth_token_hint", *TEST_FIELDS]
        read_only_fields = [*RECORD_FIELDS, *TEST_FIELDS]

    def create(self, validated_data):
        try:
            return services.create_settings(**validated_data)
        except services.AlreadyConfigured as error:
            raise Conflict(str(error)) from error

    def update(self, instance, validated_data):
        return services.update_settings(instance, **validated_data)


class NewTwilioSettingsSerializer(TwilioSettingsSerializer):
    """The company's Twilio account as first added: the auth token is required."""

    auth_token = serializers.CharField(
        write_only=True,
        max_length=128,
        style={"input_type": "password"},
        help_text="The account's auth token.",
    )


class ConnectionResultSerializer(StrictSerializer):
    """The outcome of a connection test."""

    ok = serializers.BooleanField(help_text="Whether Twilio accepted the stored credentials.")
    detail = serializers.CharField(help_text="What Twilio answered, in words.")


class TwilioSettingsViewSet(TenantViewSet):
    """The company's Twilio account; everyone in the company reads, owners and admins change it."""

    model = TwilioSettings
    serializer_class = TwilioSettingsSerializer
    ordering_fields = ["created_at", "updated_at"]
    ordering = ["-created_at"]

    def get_serializer_class(self):
        return NewTwilioSettingsSerializer if self.action == "create" else TwilioSettingsSerializer

    @extend_schema(request=None, responses={200: ConnectionResultSerializer})
    @action(detail=True, methods=["post"], url_path="test-connection")
    def test_connection(self, request, pk=None):
        """Fetch the account from Twilio with the stored credentials; the outcome is recorded."""
        result = services.check_connection(self.get_object())
        return Response(ConnectionResultSerializer(result).data)


routes = [("twilio-settings", TwilioSettingsViewSet, "twilio-settings")]
