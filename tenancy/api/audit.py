"""The audit log through the API: a company's owners and admins read the entries about their company."""

import django_filters
from rest_framework import serializers, viewsets

from core.api.filters import IsoDateTimeFilter, StrictDjangoFilterBackend, StrictOrderingFilter
from core.api.strict import StrictJsonTypesMixin

from ..context import current_scope
from ..models import AuditLog
from .base import FollowsRoleRule, RoleRuleMixin


class AuditLogSerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    actor_email = serializers.SerializerMethodField()

    class Meta:
        model = AuditLog
        fields = ["id", "created_at", "action", "reason", "actor", "actor_email", "company", "method", "path"]
        read_only_fields = fields

    def get_actor_email(self, entry) -> str | None:
        # Entries written before the address was kept show it where the actor's row is visible.
        if entry.actor_email:
            return entry.actor_email
        return entry.actor.email if entry.actor is not None else None


class AuditLogFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=AuditLog.Action.choices)
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditLog
        fields = ["action"]


class AuditLogViewSet(RoleRuleMixin, viewsets.ReadOnlyModelViewSet):
    """Who from outside the company acted inside it, newest first; read-only for everyone."""

    serializer_class = AuditLogSerializer
    # An entry's id is a bigint: longer digit strings are no entry (a 404), never a database error.
    lookup_value_regex = "[0-9]{1,18}"
    model = AuditLog
    permission_classes = [FollowsRoleRule]
    filterset_class = AuditLogFilter
    # No free-text search over what outsiders did; a page sorted by time, either way.
    filter_backends = [StrictDjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        entries = AuditLog.objects.select_related("actor").order_by("-created_at", "-id")
        if getattr(self, "swagger_fake_view", False):
            return entries.none()
        scope = current_scope()
        if scope is None:
            return entries.none()
        if scope.spans_all_companies:
            return entries  # a platform super admin without X-Company-ID: every entry, audited
        # Row-level security keeps the same rows; the filter lets the company index serve the page.
        return entries.filter(company_id=scope.company_id)


routes = [("audit-log", AuditLogViewSet, "audit-log")]
