"""Who may change a company's telephony setup."""

from rest_framework import permissions


class CompanyManagersWrite(permissions.IsAuthenticated):
    """Everyone in the company reads; only its owners and admins (and super admins) write."""

    message = "Only the company's owners and admins may change this."

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        return request.method in permissions.SAFE_METHODS or request.user.can_manage_company
