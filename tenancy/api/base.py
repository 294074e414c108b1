"""The tenant base viewset, serializer and related field that every domain API is built from."""

import logging
import uuid

from django.core.exceptions import ImproperlyConfigured
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.exceptions import APIException

from core.api.errors import BadRequest
from core.api.errors import exception_handler as core_exception_handler
from core.api.schema import register_base_serializer
from core.api.strict import OPTIONAL_FORMATTED_FIELDS, StrictJsonTypesMixin
from core.phones import PhoneNumberField, PhoneNumberSerializerField

from ..context import current_scope
from ..exceptions import CrossTenantWrite, NoTenantContext
from ..roles import Access, RoleRule, rule_of
from ..scoping import scoped_choices

logger = logging.getLogger("tenancy")


class TenantRelatedField(serializers.PrimaryKeyRelatedField):
    """A writable relation that accepts only rows of the current company; another's id is a 400."""

    def __init__(self, model=None, **kwargs):
        queryset = kwargs.pop("queryset", None)
        self.related_model = model or getattr(queryset, "model", None)
        if self.related_model is None and not kwargs.get("read_only"):
            raise ImproperlyConfigured(
                "TenantRelatedField needs `model=` (or a queryset whose model it can read)."
            )
        if not kwargs.get("read_only"):
            kwargs["queryset"] = self.related_model._base_manager.none()
        super().__init__(**kwargs)

    def get_queryset(self):
        return scoped_choices(self.related_model)

    def to_internal_value(self, data):
        try:
            uuid.UUID(str(data))
        except (TypeError, ValueError, AttributeError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class CurrentUserOnCreate(serializers.CurrentUserDefault):
    """The requesting user as a default on create only; a full update keeps the stored value."""

    def __call__(self, serializer_field):
        if serializer_field.parent.instance is not None:
            raise serializers.SkipField()
        return super().__call__(serializer_field)


class TenantModelSerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    """Model serializer whose relations are tenant-scoped and whose company is read-only."""

    serializer_related_field = TenantRelatedField
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        PhoneNumberField: PhoneNumberSerializerField,
    }
    company = serializers.UUIDField(source="company_id", read_only=True)

    def build_standard_field(self, field_name, model_field):
        field_class, field_kwargs = super().build_standard_field(field_name, model_field)
        optional = OPTIONAL_FORMATTED_FIELDS.get(field_class)
        if optional is not None and model_field.blank:
            field_kwargs.pop("allow_blank", None)
            field_class = optional
        return field_class, field_kwargs

    def build_relational_field(self, field_name, relation_info):
        field_class, field_kwargs = super().build_relational_field(field_name, relation_info)
        if issubclass(field_class, TenantRelatedField) and "queryset" in field_kwargs:
            field_kwargs["model"] = relation_info.related_model
            field_kwargs.pop("queryset")
        return field_class, field_kwargs


register_base_serializer(TenantModelSerializer)


class SingleCompanyWritesMixin:
    """Refuses writes that would span every company: super admins pick one with X-Company-ID."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        scope = current_scope()
        if request.method not in permissions.SAFE_METHODS and scope is not None and scope.company_id is None:
            raise BadRequest("Super admins write inside one company: send the X-Company-ID header.")


class FollowsRoleRule(permissions.IsAuthenticated):
    """Refuses what the model's role rule (tenancy.roles) does not allow the user's role, with 403."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        return self._allows(request, view, None)

    def has_object_permission(self, request, view, obj):
        return self._allows(request, view, obj)

    def _allows(self, request, view, record) -> bool:
        rule, access = view.role_rule(), view.access_of_request()
        if rule.allows(request.user, access, record):
            return True
        self.message = (
            f"Only {rule.who(access).value} may {access.value} this {view.model._meta.verbose_name}."
        )
        return False


class RoleRuleMixin:
    """What a request asks of the model's role rule: read, create, change or delete.

    `read_actions` names the extra actions that only look (a POST that previews, say); any other
    non-safe extra action on a list is a create, and on a record a change.
    """

    read_actions: frozenset[str] = frozenset()

    def role_rule(self) -> RoleRule:
        return rule_of(self.model)

    def access_of_request(self) -> Access:
        if self.request.method in permissions.SAFE_METHODS or self.action in self.read_actions:
            return Access.READ
        if self.request.method == "DELETE":
            return Access.DELETE
        if not self.detail and self.request.method == "POST":
            return Access.CREATE
        return Access.CHANGE


class TenantViewSet(RoleRuleMixin, SingleCompanyWritesMixin, viewsets.ModelViewSet):
    """Base of every tenant viewset: scoped queries, company set by the server, soft delete, 404s.

    Subclasses set `model` and may narrow the scoped queryset in `safely_get_queryset`. A view
    that must read outside the current company defines `dangerously_get_queryset` instead, so a
    reviewer sees it.
    """

    model = None
    permission_classes = [FollowsRoleRule]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("get_queryset", "get_object"):
            if name in cls.__dict__:
                raise ImproperlyConfigured(
                    f"{cls.__name__} overrides {name}(), which would bypass tenant scoping. "
                    "Narrow the queryset in safely_get_queryset(queryset) instead."
                )

    def safely_get_queryset(self, queryset):
        """Narrow the current company's queryset (select_related, annotations); never widen it."""
        return queryset

    def get_queryset(self):
        if self.model is None:
            raise ImproperlyConfigured(f"{type(self).__name__} must set `model`.")
        if getattr(self, "swagger_fake_view", False):
            return self.model._base_manager.none()
        dangerous = getattr(self, "dangerously_get_queryset", None)
        if dangerous is not None:
            return dangerous()
        return self.safely_get_queryset(self.model._default_manager.all())

    def server_assigned_fields(self) -> dict:
        """Values the server sets on create, never the request body: the creating user."""
        field_names = {field.name for field in self.model._meta.get_fields()}
        return {"user": self.request.user} if "user" in field_names else {}

    def perform_create(self, serializer):
        serializer.save(**self.server_assigned_fields())

    def perform_destroy(self, instance):
        instance.soft_delete()


def exception_handler(exc, context):
    """Tenancy errors as 4xx (a cross-company reference is a 400, no company a 403), then core's mapping."""
    if isinstance(exc, CrossTenantWrite):
        logger.error("cross-company write refused: %s", exc)
        exc = BadRequest("A referenced record does not exist.")
    elif isinstance(exc, NoTenantContext):
        exc = APIException("No company is selected for this request.")
        exc.status_code = status.HTTP_403_FORBIDDEN
    return core_exception_handler(exc, context)
