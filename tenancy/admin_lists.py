"""Changelist parts that stay cheap at any company's size: a capped count and filters of few choices."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from .scoping import scoped_choices

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts rows up to COUNT_CAP and no further; the changelist then says "more than 10,000"."""

    count_cap = COUNT_CAP

    @cached_property
    def count(self):
        # COUNT(*) over a LIMITed subquery stops reading after the cap, where a full count reads them all.
        return self.object_list[: self.count_cap + 1].count()

    @property
    def count_is_capped(self) -> bool:
        return self.count > self.count_cap


class CompanyUserFilter(admin.RelatedFieldListFilter):
    """A filter by user that lists the current company's active users only (a super admin's: none)."""

    def field_choices(self, field, request, model_admin):
        users = scoped_choices(field.related_model).order_by("full_name", "email")
        return [(user.pk, str(user)) for user in users]


class ChosenRowFilter(admin.RelatedFieldListFilter):
    """A filter by a relation to a large table that shows only the row chosen, as reached from a link.

    Listing every account of a company would put thousands of links beside the list; a page that
    links here (an account's deals) names the row in the address instead.
    """

    def has_output(self):
        return self.lookup_val is not None or self.lookup_val_isnull is not None

    def field_choices(self, field, request, model_admin):
        if not self.lookup_val:
            return []
        try:
            chosen = list(scoped_choices(field.related_model).filter(pk__in=self.lookup_val))
        except (ValidationError, ValueError):
            return []  # the list itself answers a malformed id (Django's "?e=1")
        return [(row.pk, str(row)) for row in chosen]
