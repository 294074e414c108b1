"""Admin pages of the sales core.

Saves go through the sales services (which tell workflows of the change); TenantModelAdmin runs
them inside the record's own company, also for a super admin acting across all companies.
A company may hold 100,000 contacts and deals: relations are chosen by autocomplete, filters by
owner list the company's users, and a filter by account shows only the account an account's
"deals" or "contacts" link chose. A contact's, account's and deal's change form ends with the latest
entries of its timeline.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join

from tenancy.admin import TenantModelAdmin, inside_company_of
from tenancy.admin_lists import ChosenRowFilter, CompanyUserFilter

from .models import Account, Contact, Deal, Note
from .services import save_account, save_contact, save_deal, save_note
from .timeline import timeline_entries

# How many of the newest timeline entries a change form shows; the API pages through all of them.
ADMIN_TIMELINE_ENTRIES = 20


class TimelineAdmin(TenantModelAdmin):
    """A change form that shows, read-only, the record's latest timeline entries."""

    timeline_kind = ""

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "timeline"] if obj is not None else readonly

    @admin.display(description=f"Timeline (latest {ADMIN_TIMELINE_ENTRIES})")
    def timeline(self, obj):
        with inside_company_of(obj):
            entries = list(timeline_entries(self.timeline_kind, obj.pk)[:ADMIN_TIMELINE_ENTRIES])
        if not entries:
            return "Nothing yet."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (entry["occurred_at"].strftime("%Y-%m-%d %H:%M"), entry["type"], entry["summary"])
                for entry in entries
            ),
        )
        return format_html("<table><tr><th>When</th><th>What</th><th>Summary</th></tr>{}</table>", rows)


@admin.register(Account)
class AccountAdmin(TimelineAdmin):
    list_display = ["name", "industry", "domain", "owner", "created_at", "records"]
    list_filter = ["industry", ("owner", CompanyUserFilter)]
    # The columns accounts_company_name covers; a domain is found by the account's name.
    search_fields = ["name"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    timeline_kind = "account"

    @admin.display(description="Records")
    def records(self, account):
        deals = reverse("admin:crm_deal_changelist") + f"?account__id__exact={account.pk}"
        contacts = reverse("admin:crm_contact_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">deals</a> · <a href="{}">contacts</a>', deals, contacts)

    def save_record(self, request, obj, form, change):
        save_account(obj)


@admin.register(Contact)
class ContactAdmin(TimelineAdmin):
    list_display = ["__str__", "email", "phone", "account", "owner", "created_at"]
    list_filter = [("owner", CompanyUserFilter), ("account", ChosenRowFilter), "created_at"]
    search_fields = ["first_name", "last_name", "email", "phone"]
    list_select_related = ["account", "owner"]
    date_hierarchy = "created_at"
    timeline_kind = "contact"

    def save_record(self, request, obj, form, change):
        save_contact(obj)


@admin.register(Deal)
class DealAdmin(TimelineAdmin):
    list_display = ["name", "stage", "value", "closes", "owner_name", "account_name"]
    list_filter = [
        "stage",
        ("owner", CompanyUserFilter),
        ("account", ChosenRowFilter),
        "expected_close_date",
        "closed_at",
        "currency",
    ]
    search_fields = ["name"]
    readonly_fields = ["closed_at"]
    list_select_related = ["account", "owner"]
    date_hierarchy = "created_at"
    timeline_kind = "deal"

    @admin.display(description="Amount", ordering="amount")
    def value(self, deal):
        # One column for amount and currency, and short headers, keep the list within a 1366-pixel screen.
        return f"{number_format(deal.amount, 2, force_grouping=True)} {deal.currency}"

    @admin.display(description="Closes", ordering="expected_close_date")
    def closes(self, deal):
        return deal.expected_close_date.isoformat() if deal.expected_close_date else None

    # Shown through methods rather than as the relations themselves, which the admin keeps on one line
    # (its "nowrap" for foreign keys): a long account name wraps instead of widening the list.
    @admin.display(description="Owner", ordering="owner__full_name")
    def owner_name(self, deal):
        return (deal.owner.full_name or deal.owner.email) if deal.owner else None

    @admin.display(description="Account", ordering="account__name")
    def account_name(self, deal):
        return deal.account.name if deal.account else None

    def save_record(self, request, obj, form, change):
        save_deal(obj, changed_by=request.user)


@admin.register(Note)
class NoteAdmin(TenantModelAdmin):
    list_display = ["__str__", "contact", "account", "deal", "user", "created_at"]
    search_fields = ["body"]
    readonly_fields = ["user"]
    list_select_related = ["contact", "account", "deal", "user"]

    def save_record(self, request, obj, form, change):
        if not change:
            obj.user = request.user
        save_note(obj)
