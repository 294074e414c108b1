"""The admin site every admin page is served by, locked to the signed-in user's own company.

Its own module, without model admins: Django imports the default site while it registers them.
"""

from functools import update_wrapper

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied

from .context import current_scope


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


class TenantAdminSite(admin.AdminSite):
    """The admin site: every page refuses a tenant context other than the signed-in user's company."""

    def admin_view(self, view, cacheable=False):
        def in_own_company(request, *args, **kwargs):
            refuse_foreign_context(request)
            return view(request, *args, **kwargs)

        return super().admin_view(update_wrapper(in_own_company, view), cacheable)


class TenantAdminConfig(AdminConfig):
    """Django's admin with TenantAdminSite as its default site."""

    default_site = "tenancy.admin_site.TenantAdminSite"
