"""Filters of the sales core, shared by its API and its selectors (crm.selectors)."""

import django_filters

from core.api.filters import IsoDateTimeFilter, NumberFilter

from .models import Account, Contact, Deal, Note

# Text fields `?search=` looks in for contacts.
CONTACT_SEARCH_FIELDS = ["first_name", "last_name", "email", "phone", "title"]


class AccountFilter(django_filters.FilterSet):
    owner = django_filters.UUIDFilter(field_name="owner_id")
    industry = django_filters.CharFilter(lookup_expr="iexact")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Account
        fields = ["owner", "industry"]


class ContactFilter(django_filters.FilterSet):
    account = django_filters.UUIDFilter(field_name="account_id")
    owner = django_filters.UUIDFilter(field_name="owner_id")
    email = django_filters.CharFilter(lookup_expr="iexact")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Contact
        fields = ["account", "owner", "email"]


class DealFilter(django_filters.FilterSet):
    stage = django_filters.MultipleChoiceFilter(choices=Deal.Stage.choices)
    owner = django_filters.UUIDFilter(field_name="owner_id")
    account = django_filters.UUIDFilter(field_name="account_id")
    contact = django_filters.UUIDFilter(field_name="contact_id")
    currency = django_filters.CharFilter(lookup_expr="iexact")
    amount_min = NumberFilter(field_name="amount", lookup_expr="gte")
    amount_max = NumberFilter(field_name="amount", lookup_expr="lte")
    close_after = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="gte")
    close_before = django_filters.DateFilter(field_name="expected_close_date", lookup_expr="lte")

    class Meta:
        model = Deal
        fields = ["stage", "owner", "account", "contact", "currency"]


class NoteFilter(django_filters.FilterSet):
    contact = django_filters.UUIDFilter(field_name="contact_id")
    account = django_filters.UUIDFilter(field_name="account_id")
    deal = django_filters.UUIDFilter(field_name="deal_id")
    user = django_filters.UUIDFilter(field_name="user_id")

    class Meta:
        model = Note
        fields = ["contact", "account", "deal", "user"]
