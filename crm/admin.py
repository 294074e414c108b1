"""Admin pages of the sales core.

Saves go through the sales services (which tell workflows of the change); TenantModelAdmin runs
them inside the record's own company, also for a super admin acting across all companies.
A company may hold 100,000 contacts and deals: relations are chosen by autocomplete, filters by
owner list the company's users, and a filter by account shows only the account an account's
"deals" or "contacts" link chose.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.html import format_html

from tenancy.admin import TenantModelAdmin
from tenancy.admin_lists import ChosenRowFilter, CompanyUserFilter

from .models import Account, Contact, Deal
from .services import save_account, save_contact, save_deal


@admin.register(Account)
class AccountAdmin(TenantModelAdmin):
    list_display = ["name", "industry", "domain", "owner", "created_at", "records"]
    list_filter = ["industry", ("owner", CompanyUserFilter)]
    # The columns accounts_company_name covers; a domain is found by the account's name.
    search_fields = ["name"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"

    @admin.display(description="Records")
    def records(self, account):
        deals = reverse("admin:crm_deal_changelist") + f"?account__id__exact={account.pk}"
        contacts = reverse("admin:crm_contact_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">deals</a> · <a href="{}">contacts</a>', deals, contacts)

    def save_record(self, request, obj, form, change):
        save_account(obj)


@admin.register(Contact)
class ContactAdmin(TenantModelAdmin):
    list_display = ["__str__", "email", "phone", "account", "owner", "created_at"]
    list_filter = [("owner", CompanyUserFilter), ("account", ChosenRowFilter), "created_at"]
    search_fields = ["first_name", "last_name", "email", "phone"]
    list_select_related = ["account", "owner"]
    date_hierarchy = "created_at"

    def save_record(self, request, obj, form, change):
        save_contact(obj)


@admin.register(Deal)
class DealAdmin(TenantModelAdmin):
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
        save_deal(obj)
