"""REST API of the sales core: /api/accounts, /api/contacts, /api/deals."""

import re

from django.contrib.auth import get_user_model
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.filters import SearchFilter
from rest_framework.settings import api_settings

from core.api import BadRequest, DetailSerializer, StrictSerializer
from core.api.strict import NullForBlankMixin
from core.currencies import CurrencyCodeField
from core.text import NUL_ESCAPE, WHITESPACE
from tenancy.api import CurrentUserOnCreate, TenantModelSerializer, TenantRelatedField, TenantViewSet

from .filters import CONTACT_SEARCH_FIELDS, AccountFilter, ContactFilter, DealFilter, NoteFilter
from .models import Account, Contact, Deal, Note
from .selectors import search_contacts
from .services import save_account, save_contact, save_deal, save_note
from .timeline import timeline_entries

User = get_user_model()

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]


def owner_field():
    """A writable owner that must be a user of the current company; the creator by default."""
    return TenantRelatedField(model=User, required=False, allow_null=True, default=CurrentUserOnCreate())


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# An http(s) address by host name, as a user copies it from a browser: DNS labels of at most 63
# characters, a top-level domain of letters, an optional port and any path without spaces. Stated
# in the schema and checked as is (Django's URLValidator takes more than `format: uri` says, and less).
WEBSITE_PATTERN = (
    rf"^[{WHITESPACE}]*https?://(?:{_LABEL}\.)+[A-Za-z]{{2,63}}(?::[0-9]{{1,5}})?"
    rf"(?:[/?#][^{WHITESPACE}{NUL_ESCAPE}]*)?[{WHITESPACE}]*$"
)
WEBSITE_MAX_LENGTH = 200


@extend_schema_field(
    {"type": "string", "pattern": WEBSITE_PATTERN, "maxLength": WEBSITE_MAX_LENGTH, "nullable": True}
)
class WebsiteField(NullForBlankMixin, serializers.CharField):
    """An account's website address, or null."""

    default_error_messages = {"invalid": "Enter an http(s) address such as https://example.com/."}

    def to_internal_value(self, data):
        # Both limits apply to the text as sent, like the schema's, before DRF trims it.
        if isinstance(data, str) and len(data) > WEBSITE_MAX_LENGTH:
            self.fail("max_length", max_length=WEBSITE_MAX_LENGTH)
        if isinstance(data, str) and re.search(WEBSITE_PATTERN, data) is None:
            self.fail("invalid")
        return super().to_internal_value(data)


class AccountSerializer(TenantModelSerializer):
    """A customer organisation."""

    owner = owner_field()
    website = WebsiteField(required=False)

    class Meta:
        model = Account
        fields = [*RECORD_FIELDS, "name", "domain", "industry", "phone", "website", "owner"]
        read_only_fields = RECORD_FIELDS

    def create(self, validated_data):
        return save_account(Account(), **validated_data)

    def update(self, instance, validated_data):
        return save_account(instance, **validated_data)


class ContactSerializer(TenantModelSerializer):
    """A person at a customer organisation."""

    owner = owner_field()
    full_name = serializers.CharField(read_only=True)

    class Meta:
        model = Contact
        fields = [
            *RECORD_FIELDS,
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "title",
            "account",
            "owner",
            "notes",
        ]
        read_only_fields = RECORD_FIELDS

    def create(self, validated_data):
        return save_contact(Contact(), **validated_data)

    def update(self, instance, validated_data):
        return save_contact(instance, **validated_data)


class DealSerializer(TenantModelSerializer):
    """A sales opportunity; closed_at is stamped when the stage becomes won or lost."""

    owner = owner_field()
    probability = serializers.DecimalField(max_digits=3, decimal_places=2, read_only=True)
    currency = CurrencyCodeField(required=False)

    class Meta:
        model = Deal
        fields = [
            *RECORD_FIELDS,
            "name",
            "stage",
            "probability",
            "amount",
            "currency",
            "expected_close_date",
            "closed_at",
            "owner",
            "contact",
            "account",
        ]
        read_only_fields = [*RECORD_FIELDS, "closed_at"]

    def create(self, validated_data):
        return save_deal(Deal(), **validated_data)

    def update(self, instance, validated_data):
        return save_deal(instance, changed_by=self.context["request"].user, **validated_data)


class TimelineEntrySerializer(StrictSerializer):
    """One thing that happened to the record: a call, text, e-mail, document, quote, stage change or note."""

    id = serializers.UUIDField(source="entry_id", help_text="The id of the call, note, ... it shows.")
    type = serializers.CharField(
        help_text="call, sms, email, document, quote, stage_change or note: what `id` names."
    )
    summary = serializers.CharField(help_text="One line, at most 200 characters.")
    occurred_at = serializers.DateTimeField()


class TimelinePageSerializer(StrictSerializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = TimelineEntrySerializer(many=True)


class TimelineMixin:
    """`GET {id}/timeline`: everything that concerns the record, newest first, one page at a time."""

    timeline_kind = ""

    @extend_schema(
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: TimelinePageSerializer, 404: DetailSerializer},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def timeline(self, request, pk=None):
        """The calls, texts, e-mails, documents, quotes, stage changes and notes about the record."""
        record = self.get_object()
        page = self.paginate_queryset(timeline_entries(self.timeline_kind, record.pk))
        return self.get_paginated_response(TimelineEntrySerializer(page, many=True).data)


NOTE_TARGETS = ("contact", "account", "deal")


class NoteSerializer(TenantModelSerializer):
    """A note about one contact, account or deal, written by the signed-in user."""

    contact = TenantRelatedField(model=Contact, required=False, allow_null=True)
    account = TenantRelatedField(model=Account, required=False, allow_null=True)
    deal = TenantRelatedField(model=Deal, required=False, allow_null=True)

    class Meta:
        model = Note
        fields = [*RECORD_FIELDS, "body", "user", *NOTE_TARGETS]
        read_only_fields = [*RECORD_FIELDS, "user"]

    def validate(self, attrs):
        if sum(attrs.get(name) is not None for name in NOTE_TARGETS) != 1:
            raise BadRequest("A note is about exactly one contact, account or deal: name one of them.")
        return attrs

    def create(self, validated_data):
        return save_note(Note(), **validated_data)


class NoteChangeSerializer(NoteSerializer):
    """A note's text; it stays with the record it was written about."""

    class Meta(NoteSerializer.Meta):
        read_only_fields = [*RECORD_FIELDS, "user", *NOTE_TARGETS]

    # Two of the three are null on every note.
    contact = TenantRelatedField(model=Contact, read_only=True, allow_null=True)
    account = TenantRelatedField(model=Account, read_only=True, allow_null=True)
    deal = TenantRelatedField(model=Deal, read_only=True, allow_null=True)

    def validate(self, attrs):
        named = [name for name in NOTE_TARGETS if name in self.initial_data]
        if named:
            raise serializers.ValidationError(
                {name: ["A note stays with the record it is about."] for name in named}
            )
        return attrs

    def update(self, instance, validated_data):
        return save_note(instance, **validated_data)


class NoteRequestSchema(OpenApiSerializerExtension):
    """The new note's body with its rule: exactly one of contact, account and deal names its record."""

    target_class = NoteSerializer

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return schema
        uuid, absent = {"type": "string", "format": "uuid"}, {"not": {"type": "string"}}
        one_of = [
            {
                "required": [name],
                "properties": {other: uuid if other == name else absent for other in NOTE_TARGETS},
            }
            for name in NOTE_TARGETS
        ]
        return {**schema, "oneOf": one_of}


class AccountViewSet(TimelineMixin, TenantViewSet):
    """Customer organisations."""

    model = Account
    serializer_class = AccountSerializer
    timeline_kind = "account"
    filterset_class = AccountFilter
    search_fields = ["name", "domain", "industry"]
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]


class ContactSearchFilter(SearchFilter):
    """DRF's `?search=` (its parameter, schema and terms), matched by the selector campaigns use too."""

    def filter_queryset(self, request, queryset, view):
        return search_contacts(queryset, self.get_search_terms(request))


class ContactViewSet(TimelineMixin, TenantViewSet):
    """People at customer organisations."""

    model = Contact
    serializer_class = ContactSerializer
    timeline_kind = "contact"
    # The default backends in their order, with contacts' own search in DRF's place.
    filter_backends = [
        ContactSearchFilter if backend is SearchFilter else backend
        for backend in api_settings.DEFAULT_FILTER_BACKENDS
    ]
    filterset_class = ContactFilter
    search_fields = CONTACT_SEARCH_FIELDS
    ordering_fields = ["last_name", "first_name", "email", "created_at", "updated_at"]
    ordering = ["last_name", "first_name"]


class DealViewSet(TimelineMixin, TenantViewSet):
    """Sales opportunities in the pipeline."""

    model = Deal
    serializer_class = DealSerializer
    timeline_kind = "deal"
    filterset_class = DealFilter
    search_fields = ["name", "account__name", "contact__last_name"]
    ordering_fields = ["name", "amount", "stage", "expected_close_date", "created_at", "updated_at"]
    ordering = ["-created_at"]


class NoteViewSet(TenantViewSet):
    """Notes about contacts, accounts and deals; `?contact=`, `?account=`, `?deal=` narrow them."""

    model = Note
    serializer_class = NoteSerializer
    filterset_class = NoteFilter
    search_fields = ["body"]
    ordering_fields = ["created_at", "updated_at"]
    ordering = ["-created_at"]

    def get_serializer_class(self):
        return NoteChangeSerializer if self.action in ("update", "partial_update") else NoteSerializer

    def safely_get_queryset(self, queryset):
        return queryset.select_related("user")


routes = [
    ("accounts", AccountViewSet, "account"),
    ("contacts", ContactViewSet, "contact"),
    ("deals", DealViewSet, "deal"),
    ("notes", NoteViewSet, "note"),
]
