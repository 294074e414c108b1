"""REST API of the signed-in user's notifications: /api/notifications."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api import StrictSerializer
from core.api.filters import BooleanFilter, IsoDateTimeFilter
from tenancy.api import TenantModelSerializer, TenantViewSet

from ..models import Notification
from ..services import notifications as services

RECORD_FIELDS = ["id", "company", "created_at", "updated_at"]


class NotificationSerializer(TenantModelSerializer):
    """Something the user should look at; created by the system, never through the API."""

    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [*RECORD_FIELDS, "kind", "title", "body", "target_type", "target_id", "read_at", "is_read"]
        read_only_fields = fields

    def get_is_read(self, notification: Notification) -> bool:
        return notification.read_at is not None


class UnreadCountSerializer(StrictSerializer):
    unread = serializers.IntegerField(help_text="How many of the user's notifications are unread.")


class MarkedSerializer(StrictSerializer):
    marked = serializers.IntegerField(help_text="How many notifications were marked read.")


class NotificationFilter(django_filters.FilterSet):
    unread = BooleanFilter(
        field_name="read_at", lookup_expr="isnull", label="Only unread (true) or only read (false)."
    )
    kind = django_filters.MultipleChoiceFilter(choices=Notification.Kind.choices)
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = Notification
        fields = ["unread", "kind"]


# Reading and marking only: notifications are created by the system (inbound texts, missed
# calls, failed sends), so POST on the collection, PUT and PATCH answer 405.
READ_ONLY_METHODS = ["get", "delete", "head", "options"]
ACTION_METHODS = ["post", "options"]


class NotificationViewSet(TenantViewSet):
    """The signed-in user's own notifications; DELETE dismisses one."""

    model = Notification
    serializer_class = NotificationSerializer
    http_method_names = READ_ONLY_METHODS
    filterset_class = NotificationFilter
    search_fields = ["title", "body"]
    ordering_fields = ["created_at", "read_at"]
    ordering = ["-created_at"]

    def safely_get_queryset(self, queryset):
        # Per user, inside the company: a colleague's notification is a 404 like another company's.
        return queryset.filter(user=self.request.user)

    @extend_schema(responses={200: UnreadCountSerializer}, filters=False)
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request):
        """How many of the user's notifications are unread."""
        return Response({"unread": services.unread_count(request.user)})

    @extend_schema(request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"], url_path="read", http_method_names=ACTION_METHODS)
    def read(self, request, pk=None):
        """Mark one notification read (reading it again keeps the first read time)."""
        notification = services.mark_read(self.get_object())
        return Response(self.get_serializer(notification).data)

    @extend_schema(request=None, responses={200: MarkedSerializer}, filters=False)
    @action(detail=False, methods=["post"], url_path="read-all", http_method_names=ACTION_METHODS)
    def read_all(self, request):
        """Mark every unread notification of the user read."""
        return Response({"marked": services.mark_all_read(request.user)})


routes = [("notifications", NotificationViewSet, "notification")]
