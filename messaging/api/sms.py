"""SMS API: /api/sms/messages (the log; POST sends) and /api/sms/conversations (threads per contact)."""

import uuid

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from django.db.models import Q
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from core.api import StrictSerializer
from core.api.filters import (
    BooleanFilter,
    IsoDateTimeFilter,
    boolean_query_parameter,
    refuse_unknown_query_parameters,
)
from core.text import UUID
from core.validators import e164
from crm.models import Contact
from tenancy.api import (
    FollowsRoleRule,
    RoleRuleMixin,
    SingleCompanyWritesMixin,
    TenantModelSerializer,
    TenantRelatedField,
    TenantViewSet,
)

from ..models import Direction, SmsMessage
from ..services import sms

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]
# A company number named by its id or by the number itself (E.164); the schema states the same pattern.
phone_number_reference = RegexValidator(
    rf"^({e164.regex.pattern.strip('^$')}|{UUID})$",
    "Name a company number by its id or in E.164 form, e.g. +14155550100.",
)


class SmsMessageSerializer(TenantModelSerializer):
    """A text message to or from a company number; only its contact may be changed."""

    contact = TenantRelatedField(
        model=Contact,
        required=False,
        allow_null=True,
        help_text="The contact the message is filed under.",
    )
    contact_name = serializers.CharField(source="contact.full_name", read_only=True, allow_null=True)

    class Meta:
        model = SmsMessage
        fields = [
            *RECORD_FIELDS,
            "direction",
            "status",
            "contact",
            "contact_name",
            "user",
            "phone_number",
            "from_number",
            "to_number",
            "body",
            "twilio_sid",
            "error_code",
            "error_message",
            "sent_at",
            "delivered_at",
            "read_at",
        ]
        read_only_fields = [field for field in fields if field not in {"contact", "contact_name"}]

    def update(self, instance, validated_data):
        if "contact" in validated_data:
            return sms.link_to_contact(instance, validated_data["contact"])
        return instance


class SmsSendSerializer(SmsMessageSerializer):
    """A text to send: to a contact (its phone) or a `to` number, from a company number."""

    contact = TenantRelatedField(
        model=Contact,
        required=False,
        allow_null=True,
        help_text="The contact to text; their phone is used unless `to` is given.",
    )
    to = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=16,
        validators=[e164],
        help_text="The recipient's number in E.164 form; linked to the contact with that number.",
    )
    from_number = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=36,
        validators=[phone_number_reference],
        help_text=(
            "Send from this SMS-enabled company number (its id or the number). Default: the sender's "
            "own number, else the company's first SMS-enabled number."
        ),
    )
    body = serializers.CharField(max_length=sms.MAX_BODY_LENGTH)

    class Meta(SmsMessageSerializer.Meta):
        fields = [*SmsMessageSerializer.Meta.fields, "to"]
        read_only_fields = [
            field
            for field in SmsMessageSerializer.Meta.fields
            if field not in {"contact", "contact_name", "from_number", "body"}
        ]

    def validate(self, attrs):
        if not attrs.get("contact") and not attrs.get("to"):
            raise serializers.ValidationError({"to": "Give a contact or a `to` number to text."})
        return attrs

    def create(self, validated_data):
        return sms.send_sms(
            user=validated_data["user"],
            body=validated_data["body"],
            contact=validated_data.get("contact"),
            to=validated_data.get("to", ""),
            from_number=validated_data.get("from_number") or None,
        )


class SmsSendRequestSchema(OpenApiSerializerExtension):
    """The send body with its rule: a contact or a `to` number names the recipient."""

    target_class = SmsSendSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return schema
        recipient = [
            {"required": ["contact"], "properties": {"contact": {"type": "string", "format": "uuid"}}},
            {"required": ["to"], "properties": {"to": {"type": "string", "pattern": e164.regex.pattern}}},
        ]
        return {**schema, "anyOf": recipient}


class SmsMessageFilter(django_filters.FilterSet):
    contact = django_filters.UUIDFilter(field_name="contact_id")
    phone_number = django_filters.UUIDFilter(field_name="phone_number_id")
    user = django_filters.UUIDFilter(field_name="user_id")
    direction = django_filters.ChoiceFilter(choices=Direction.choices)
    status = django_filters.MultipleChoiceFilter(choices=SmsMessage.Status.choices)
    number = django_filters.CharFilter(method="filter_number", label="Texts to or from this number")
    unread = BooleanFilter(method="filter_unread", label="Inbound texts not read yet")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = SmsMessage
        fields = ["contact", "phone_number", "user", "direction", "status"]

    def filter_number(self, queryset, name, value):
        return queryset.filter(Q(from_number=value) | Q(to_number=value))

    def filter_unread(self, queryset, name, value):
        return queryset.filter(sms.UNREAD_INBOUND) if value else queryset.exclude(sms.UNREAD_INBOUND)


@extend_schema_view(
    create=extend_schema(
        summary="Send an SMS",
        description=(
            "Records the text as `queued` and sends it through Twilio in the background, with a "
            "status callback. Refused with 400 when the recipient replied STOP, when the company has "
            "no Twilio settings, or no SMS-enabled number."
        ),
        request=SmsSendSerializer,
        responses={201: SmsMessageSerializer},
    ),
    update=extend_schema(summary="File a message under another contact"),
    partial_update=extend_schema(summary="File a message under another contact"),
)
class SmsMessageViewSet(TenantViewSet):
    """The company's text messages, inbound and outbound, newest first; POST sends one."""

    model = SmsMessage
    filterset_class = SmsMessageFilter
    search_fields = ["body", "from_number", "to_number", "contact__first_name", "contact__last_name"]
    ordering_fields = ["created_at", "sent_at", "status"]
    ordering = ["-created_at"]

    def get_serializer_class(self):
        return SmsSendSerializer if self.action == "create" else SmsMessageSerializer

    def safely_get_queryset(self, queryset):
        return queryset.select_related("contact")


class SmsConversationSerializer(StrictSerializer):
    """One conversation: a contact's texts, or a remote number's texts linked to no contact."""

    key = serializers.CharField(
        help_text="The conversation's id in /api/sms/conversations/{key}: the contact id, or the number."
    )
    company = serializers.UUIDField()
    contact = serializers.UUIDField(allow_null=True)
    contact_name = serializers.CharField()
    remote_number = serializers.CharField()
    sms_opted_out = serializers.BooleanField(help_text="The contact replied STOP: nothing can be sent.")
    last_message = SmsMessageSerializer(allow_null=True)
    last_activity_at = serializers.DateTimeField(allow_null=True)
    unread_count = serializers.IntegerField(help_text="Inbound texts not marked read.")
    message_count = serializers.IntegerField()


class SmsConversationReadSerializer(StrictSerializer):
    marked_read = serializers.IntegerField(help_text="How many inbound texts were marked read.")


def remote_number(message: SmsMessage) -> str:
    return message.from_number if message.direction == Direction.INBOUND else message.to_number


def conversation_entry(
    *, latest, contact=None, number: str = "", last_activity_at, unread_count, message_count
) -> dict:
    """A conversation as SmsConversationSerializer shows it."""
    if contact is None and latest is not None and latest.contact is not None:
        contact = None if latest.contact.is_deleted else latest.contact
    if latest is not None:
        number = remote_number(latest)
    elif contact is not None:
        number = contact.phone
    return {
        "key": str(contact.pk) if contact is not None else number,
        "company": contact.company_id if contact is not None else latest.company_id,
        "contact": contact.pk if contact is not None else None,
        "contact_name": contact.full_name if contact is not None else number,
        "remote_number": number,
        "sms_opted_out": bool(contact is not None and contact.sms_opted_out),
        "last_message": latest,
        "last_activity_at": last_activity_at,
        "unread_count": unread_count,
        "message_count": message_count,
    }


KEY_PARAMETER = OpenApiParameter(
    "key",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="A contact id, or a remote number in E.164 form for texts linked to no contact.",
)


@extend_schema_view(
    list=extend_schema(
        summary="Conversations, most recent first",
        parameters=[
            OpenApiParameter("unread", OpenApiTypes.BOOL, description="Only conversations with unread texts.")
        ],
    ),
    retrieve=extend_schema(
        summary="One conversation's counts and latest message", parameters=[KEY_PARAMETER]
    ),
)
class SmsConversationViewSet(RoleRuleMixin, SingleCompanyWritesMixin, viewsets.GenericViewSet):
    """Text conversations, one per contact (or per remote number when no contact is linked).

    Not a model viewset: every read goes through the SmsMessage and Contact tenant managers, so a
    company sees only its own conversations (tests/messaging/test_sms.py checks it for two companies).
    """

    model = SmsMessage
    permission_classes = [FollowsRoleRule]
    # Marking a thread read changes no text: whoever may read the thread may.
    read_actions = frozenset({"read"})
    serializer_class = SmsConversationSerializer
    filter_backends: list = []
    lookup_field = "key"
    lookup_value_regex = r"[^/]+"

    def list(self, request):
        refuse_unknown_query_parameters(request, {"unread"})
        unread_only = bool(boolean_query_parameter(request, "unread"))
        page = self.paginate_queryset(sms.conversations(unread_only=unread_only))
        latest = sms.latest_messages([row["thread"] for row in page])
        entries = [
            conversation_entry(
                latest=latest[row["thread"]],
                last_activity_at=row["last_activity_at"],
                unread_count=row["unread_count"],
                message_count=row["message_count"],
            )
            for row in page
        ]
        return self.get_paginated_response(SmsConversationSerializer(entries, many=True).data)

    def retrieve(self, request, key=None):
        contact, number = self.conversation()
        summary = sms.conversation_summary(contact=contact, remote_number=number)
        if contact is None and summary["latest"] is None:
            raise NotFound("No texts with this number.")
        entry = conversation_entry(
            latest=summary["latest"],
            contact=contact,
            number=number,
            last_activity_at=summary["last_activity_at"],
            unread_count=summary["unread_count"],
            message_count=summary["message_count"],
        )
        return Response(SmsConversationSerializer(entry).data)

    @extend_schema(
        summary="One conversation's messages, oldest first",
        parameters=[KEY_PARAMETER],
        responses=SmsMessageSerializer(many=True),
    )
    @action(detail=True, methods=["get"], serializer_class=SmsMessageSerializer)
    def messages(self, request, key=None):
        contact, number = self.conversation()
        messages = sms.conversation_messages(contact=contact, remote_number=number)
        page = self.paginate_queryset(messages.select_related("contact").order_by("created_at", "pk"))
        return self.get_paginated_response(SmsMessageSerializer(page, many=True).data)

    @extend_schema(
        summary="Mark a conversation's inbound texts read",
        parameters=[KEY_PARAMETER],
        request=None,
        responses=SmsConversationReadSerializer,
    )
    @action(detail=True, methods=["post"])
    def read(self, request, key=None):
        contact, number = self.conversation()
        marked = sms.mark_conversation_read(contact=contact, remote_number=number)
        return Response(SmsConversationReadSerializer({"marked_read": marked}).data)

    def conversation(self) -> tuple[Contact | None, str]:
        """The contact, or the remote number, that the URL's key names; 404 for another company's."""
        key = self.kwargs["key"]
        try:
            contact_id = uuid.UUID(key)
        except ValueError:
            try:
                e164(key)
            except DjangoValidationError:
                raise NotFound("A conversation key is a contact id or an E.164 number.") from None
            return None, key
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None:
            raise NotFound("No such contact.")
        return contact, ""


routes = [
    ("sms/messages", SmsMessageViewSet, "sms-message"),
    ("sms/conversations", SmsConversationViewSet, "sms-conversation"),
]
