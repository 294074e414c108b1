"""Admin pages of the sales core.

Saves go through the sales services (which tell workflows of the change); TenantModelAdmin runs
them inside the record's own company, also for a super admin acting across all companies.
"""

from django.contrib import admin

from tenancy.admin import TenantModelAdmin

from .models import Account, Contact, Deal
from .services import save_account, save_contact, save_deal


@admin.register(Account)
class AccountAdmin(TenantModelAdmin):
    list_display = ["name", "industry", "domain", "owner", "created_at"]
    list_filter = ["industry"]
    search_fields = ["name", "domain"]
    list_select_related = ["owner"]

    def save_record(self, request, obj, form, change):
        save_account(obj)


@admin.register(Contact)
class ContactAdmin(TenantModelAdmin):
    list_display = ["__str__", "email", "phone", "account", "owner", "created_at"]
    search_fields = ["first_name", "last_name", "email", "phone"]
    list_select_related = ["account", "owner"]

    def save_record(self, request, obj, form, change):
        save_contact(obj)


@admin.register(Deal)
class DealAdmin(TenantModelAdmin):
    list_display = ["name", "stage", "amount", "currency", "expected_close_date", "owner", "account"]
    list_filter = ["stage", "currency"]
    search_fields = ["name"]
    readonly_fields = ["closed_at"]
    list_select_related = ["account", "owner"]

    def save_record(self, request, obj, form, change):
        save_deal(obj, changed_by=request.user)
