"""The admin site every admin page is served by, locked to the signed-in user's own company.

Its own module, without model admins: Django imports the default site while it registers them.
"""

from functools import update_wrapper

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.exceptions import PermissionDenied

from .context import current_scope
from .scoping import scoped_choices


def refuse_foreign_context(request) -> None:
    """Refuse an admin page whose tenant context is not the signed-in user's own company.

    The middleware derives both from one identity; this second lock holds should anything ever set
    a context of another company around a staff member's admin request.
    """
    user = request.user
    if not user.is_authenticated or getattr(user, "is_platform_admin", False):
        return
    scope = current_scope()
    if scope is None or scope.company_id != user.company_id:
        raise PermissionDenied("This admin page runs outside the company of the signed-in user.")


class TenantAutocompleteJsonView(AutocompleteJsonView):
    """Autocomplete answers drawn from the rows the form's own field accepts, nothing wider.

    The related model's admin narrows them to its page (a company's users, its own company); the
    field of the source admin's form to what the relation may point at (active users, a member's
    own notifications' user); and the scoped choices to the current company, whatever app_label,
    model_name and field_name the request names.
    """

    def get_queryset(self):
        model = self.model_admin.model
        rows = self.model_admin.get_queryset(self.request) & self.accepted() & scoped_choices(model)
        rows = rows.complex_filter(self.source_field.get_limit_choices_to())
        rows, may_have_duplicates = self.model_admin.get_search_results(self.request, rows, self.term)
        return rows.distinct() if may_have_duplicates else rows

    def accepted(self):
        """The rows the source admin's form field would accept for this relation."""
        model = self.model_admin.model
        source_admin = self.admin_site._registry.get(self.source_field.model)
        field = source_admin and source_admin.formfield_for_dbfield(self.source_field, self.request)
        queryset = getattr(field, "queryset", None)
        return queryset if queryset is not None and queryset.model is model else scoped_choices(model)


PRODUCT_NAME = "Sales CRM"
PLATFORM_LABEL = "platform support"


class TenantAdminSite(admin.AdminSite):
    """The admin site: every page refuses a tenant context other than the signed-in user's company."""

    site_header = PRODUCT_NAME
    site_title = f"{PRODUCT_NAME} admin"
    index_title = "Contacts, deals and everything a company keeps"

    @property
    def site_url(self):
        # "View site" leads to the CRM's own app (ADMIN_VIEW_SITE_URL), by default the API's docs.
        return settings.ADMIN_VIEW_SITE_URL

    def each_context(self, request):
        context = super().each_context(request)
        user = request.user
        if user.is_authenticated:
            # Staff see whose data they are looking at on every page; a super admin sees the platform.
            where = user.company.name if user.company_id else PLATFORM_LABEL
            context["site_header"] = f"{PRODUCT_NAME} · {where}"
            context["site_title"] = f"{where} · {self.site_title}"
        return context

    def autocomplete_view(self, request):
        return TenantAutocompleteJsonView.as_view(admin_site=self)(request)

    def admin_view(self, view, cacheable=False):
        def in_own_company(request, *args, **kwargs):
            refuse_foreign_context(request)
            return view(request, *args, **kwargs)

        return super().admin_view(update_wrapper(in_own_company, view), cacheable)


class TenantAdminConfig(AdminConfig):
    """Django's admin with TenantAdminSite as its default site."""

    default_site = "tenancy.admin_site.TenantAdminSite"
