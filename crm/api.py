"""REST API of the sales core: /api/accounts, /api/contacts, /api/deals."""

import re

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.filters import SearchFilter
from rest_framework.settings import api_settings

from core.api.strict import NullForBlankMixin
from core.currencies import CurrencyCodeField
from core.text import NUL_ESCAPE, WHITESPACE
from tenancy.api import CurrentUserOnCreate, TenantModelSerializer, TenantRelatedField, TenantViewSet

from .filters import CONTACT_SEARCH_FIELDS, AccountFilter, ContactFilter, DealFilter
from .models import Account, Contact, Deal
from .selectors import search_contacts
from .services import save_account, save_contact, save_deal

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
        return save_deal(instance, **validated_data)


class AccountViewSet(TenantViewSet):
    """Customer organisations."""

    model = Account
    serializer_class = AccountSerializer
    filterset_class = AccountFilter
    search_fields = ["name", "domain", "industry"]
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]


class ContactSearchFilter(SearchFilter):
    """DRF's `?search=` (its parameter, schema and terms), matched by the selector campaigns use too."""

    def filter_queryset(self, request, queryset, view):
        return search_contacts(queryset, self.get_search_terms(request))


class ContactViewSet(TenantViewSet):
    """People at customer organisations."""

    model = Contact
    serializer_class = ContactSerializer
    # The default backends in their order, with contacts' own search in DRF's place.
    filter_backends = [
        ContactSearchFilter if backend is SearchFilter else backend
        for backend in api_settings.DEFAULT_FILTER_BACKENDS
    ]
    filterset_class = ContactFilter
    search_fields = CONTACT_SEARCH_FIELDS
    ordering_fields = ["last_name", "first_name", "email", "created_at", "updated_at"]
    ordering = ["last_name", "first_name"]


class DealViewSet(TenantViewSet):
    """Sales opportunities in the pipeline."""

    model = Deal
    serializer_class = DealSerializer
    filterset_class = DealFilter
    search_fields = ["name", "account__name", "contact__last_name"]
    ordering_fields = ["name", "amount", "stage", "expected_close_date", "created_at", "updated_at"]
    ordering = ["-created_at"]


routes = [
    ("accounts", AccountViewSet, "account"),
    ("contacts", ContactViewSet, "contact"),
    ("deals", DealViewSet, "deal"),
]
