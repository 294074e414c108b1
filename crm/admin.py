"""Admin pages of the sales core.

Saves go through the sales services (which tell workflows of the change); TenantModelAdmin runs
them inside the record's own company, also for a super admin acting across all companies. A
contact's, account's and deal's change form ends with the latest entries of its timeline.
"""

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from tenancy.admin import TenantModelAdmin, inside_company_of

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
    list_display = ["name", "industry", "domain", "owner", "created_at"]
    list_filter = ["industry"]
    search_fields = ["name", "domain"]
    list_select_related = ["owner"]
    timeline_kind = "account"

    def save_record(self, request, obj, form, change):
        save_account(obj)


@admin.register(Contact)
class ContactAdmin(TimelineAdmin):
    list_display = ["__str__", "email", "phone", "account", "owner", "created_at"]
    search_fields = ["first_name", "last_name", "email", "phone"]
    list_select_related = ["account", "owner"]
    timeline_kind = "contact"

    def save_record(self, request, obj, form, change):
        save_contact(obj)


@admin.register(Deal)
class DealAdmin(TimelineAdmin):
    list_display = ["name", "stage", "amount", "currency", "expected_close_date", "owner", "account"]
    list_filter = ["stage", "currency"]
    search_fields = ["name"]
    readonly_fields = ["closed_at"]
    list_select_related = ["account", "owner"]
    timeline_kind = "deal"

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
