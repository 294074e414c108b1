"""Selectors of the sales core: the contacts a set of filters and a search select.

The contacts list (`/api/contacts`) and other apps' services (campaigns) read contacts through these
functions, so a filter and `?search=` mean the same everywhere.
"""

from functools import reduce
from operator import and_, or_

from django.core.exceptions import ValidationError
from django.db.models import Q
from rest_framework.filters import search_smart_split

from .filters import CONTACT_SEARCH_FIELDS, ContactFilter
from .models import Contact

# The filters the contacts list takes, by their query parameter names.
CONTACT_FILTER_NAMES = tuple(ContactFilter.base_filters)


def validate_contact_filters(filters: dict[str, str]) -> None:
    """Raise a ValidationError naming each filter value the contacts list would refuse."""
    filterset = ContactFilter(data=filters, queryset=Contact.objects.all())
    if not filterset.is_valid():
        raise ValidationError(
            [f"{name}: {message}" for name, messages in filterset.errors.items() for message in messages]
        )


def search_contacts(contacts, terms: list[str]):
    """The contacts holding every term, ignoring case, somewhere in one of CONTACT_SEARCH_FIELDS."""
    if not terms:
        return contacts
    lookups = [f"{field}__icontains" for field in CONTACT_SEARCH_FIELDS]
    return contacts.filter(
        reduce(and_, (reduce(or_, (Q(**{lookup: term}) for lookup in lookups)) for term in terms))
    )


def contacts_matching(filters: dict[str, str], search: str = ""):
    """The current company's contacts that valid filters and a search select, as /api/contacts lists them."""
    contacts = ContactFilter(data=filters, queryset=Contact.objects.all()).qs
    return search_contacts(contacts, search_smart_split(search))
