"""Admin pages of quotes: line items inline, totals read-only and recomputed through the services."""

from contextlib import nullcontext

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from tenancy.admin import TenantModelAdmin
from tenancy.context import company_context, current_scope

from . import services
from .models import Quote, QuoteLineItem

LINE_TOTALS = ("subtotal", "discount_amount", "tax_amount", "total")
QUOTE_TOTALS = ("subtotal", "discount_total", "tax_total", "total")


def _member_staff(request) -> bool:
    """Staff of a company, or a platform super admin (the same rule as TenantModelAdmin)."""
    user = request.user
    return user.is_active and user.is_staff and (user.is_platform_admin or user.company_id is not None)


def _inside_company_of(obj):
    """The record's own company for a super admin acting across companies; else the request's."""
    return company_context(obj.company_id) if obj.company_id else nullcontext()


class LineItemFormSet(BaseInlineFormSet):
    """Lines belong to their quote's company; a removed line is soft-deleted like every record."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        if form.instance.company_id is None and self.instance.company_id is not None:
            # A super admin adding across companies: the lines follow the company chosen for the quote.
            form.instance.company_id = self.instance.company_id
        return form

    def delete_existing(self, obj, commit=True):
        if commit:
            obj.soft_delete()


class QuoteLineItemInline(admin.TabularInline):
    model = QuoteLineItem
    formset = LineItemFormSet
    fields = (
        "position",
        "description",
        "quantity",
        "unit_price",
        "discount_percent",
        "tax_rate",
        *LINE_TOTALS,
    )
    readonly_fields = LINE_TOTALS
    extra = 1
    ordering = ("position",)

    def _may_edit(self, request, obj) -> bool:
        return _member_staff(request) and (obj is None or obj.status == Quote.Status.DRAFT)

    def has_view_permission(self, request, obj=None):
        return _member_staff(request)

    def has_add_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_edit(request, obj)


@admin.register(Quote)
class QuoteAdmin(TenantModelAdmin):
    inlines = [QuoteLineItemInline]
    list_display = ["number", "title", "status", "account", "contact", "total", "currency", "valid_until"]
    list_select_related = ["account", "contact"]
    list_filter = ["status", "currency"]
    search_fields = ["title", "account__name", "contact__last_name", "contact__email"]
    ordering = ["-number"]
    fields = [
        "number",
        "title",
        "status",
        "contact",
        "account",
        "deal",
        "currency",
        "valid_until",
        "notes",
        *QUOTE_TOTALS,
        "user",
        "document",
        "sent_at",
        "accepted_at",
    ]
    readonly_fields = ["number", "status", *QUOTE_TOTALS, "user", "document", "sent_at", "accepted_at"]
    actions = ["send_quotes", "accept_quotes", "decline_quotes"]

    def changelist_view(self, request, extra_context=None):
        scope = current_scope()
        if scope is not None and scope.company_id is not None:
            # As in the API: sent quotes past their validity date are listed as expired.
            services.expire_overdue_quotes()
        return super().changelist_view(request, extra_context)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if obj is not None and obj.status != Quote.Status.DRAFT:
            # Only drafts change; what the customer was sent stays as it was.
            return [*readonly, *(f for f in self.fields if f not in readonly)]
        return readonly

    def save_model(self, request, obj, form, change):
        with _inside_company_of(obj):
            if change:
                obj.save()
            else:
                obj.user = request.user
                services.save_new_quote(obj)

    def save_related(self, request, form, formsets, change):
        with _inside_company_of(form.instance):
            super().save_related(request, form, formsets, change)
            services.recompute_totals(form.instance)

    def _each(self, request, queryset, apply, done: str):
        handled = 0
        for quote in queryset:
            with _inside_company_of(quote):
                try:
                    apply(quote)
                except ValidationError as error:
                    self.message_user(request, " ".join(error.messages), messages.ERROR)
                else:
                    handled += 1
        if handled:
            self.message_user(request, f"{handled} quote(s) {done}.", messages.SUCCESS)

    @admin.action(description="Mark selected draft quotes sent")
    def send_quotes(self, request, queryset):
        self._each(request, queryset, services.send_quote, "sent")

    @admin.action(description="Mark selected sent quotes accepted (their deals won)")
    def accept_quotes(self, request, queryset):
        self._each(request, queryset, services.accept_quote, "accepted")

    @admin.action(description="Mark selected sent quotes declined")
    def decline_quotes(self, request, queryset):
        self._each(request, queryset, services.decline_quote, "declined")
