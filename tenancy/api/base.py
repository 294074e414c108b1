"""The tenant base viewset, serializer and related field that every domain API is built from."""

import logging
import uuid

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.relations import ManyRelatedField
from rest_framework.response import Response

from core.api.errors import BadRequest
from core.api.errors import exception_handler as core_exception_handler
from core.api.schema import register_base_serializer
from core.api.strict import OPTIONAL_FORMATTED_FIELDS, StrictJsonTypesMixin
from core.phones import PhoneNumberField, PhoneNumberSerializerField

from ..context import current_scope
from ..exceptions import CrossTenantWrite, NoTenantContext
from ..roles import Access, RoleRule, rule_of
from ..scoping import scoped_choices
from ..trash import StillReferenced, deleted_ids, restore_record, tenant_foreign_keys

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
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            kept = self._kept_deleted_reference(data)
            if kept is None:
                raise
            return kept

    def _kept_deleted_reference(self, data):
        """The deleted record this relation already names: a client echoing a record back keeps it.

        Only live rows may be chosen anew; a reference kept from before its target was deleted
        survives a full update that sends it unchanged.
        """
        instance = getattr(self.parent, "instance", None)
        if isinstance(self.parent, ManyRelatedField) or not isinstance(instance, models.Model):
            return None
        try:
            model_field = instance._meta.get_field(self.source)
        except FieldDoesNotExist:
            return None
        if not model_field.many_to_one or str(getattr(instance, model_field.attname)) != str(data):
            return None
        return getattr(instance, self.source)


class ReferenceDeletedField(serializers.BooleanField):
    """Whether the record a relation names is deleted; the relation keeps its id either way."""

    def __init__(self, foreign_key, **kwargs):
        self.foreign_key = foreign_key
        verbose_name = foreign_key.related_model._meta.verbose_name
        kwargs.setdefault("help_text", f"True when the {verbose_name} of `{foreign_key.name}` is deleted.")
        super().__init__(read_only=True, source="*", **kwargs)
        self._page = self._page_deleted = None

    def to_representation(self, value):
        related_id = getattr(value, self.foreign_key.attname)
        if related_id is None:
            return False
        if self.foreign_key.is_cached(value):  # joined by TenantViewSet's queryset: no query at all
            related = self.foreign_key.get_cached_value(value)
            return related is not None and related.is_deleted
        page_deleted = self._deleted_on_page()
        if page_deleted is not None:
            return related_id in page_deleted
        return bool(deleted_ids(self.foreign_key, [related_id]))

    def _deleted_on_page(self):
        """The deleted ids among a listed page's references, read once for the whole page."""
        root = self.root
        if not isinstance(root, serializers.ListSerializer) or root.instance is None:
            return None
        if self._page is not root.instance:
            rows = self._records_on_page(root)
            self._page = root.instance
            self._page_deleted = (
                None
                if rows is None
                else deleted_ids(self.foreign_key, [getattr(row, self.foreign_key.attname) for row in rows])
            )
        return self._page_deleted

    def _records_on_page(self, root):
        """The records this field shows on the page: the root's rows, then each nested field's value."""
        path, node = [], self.parent
        while node is not root.child:
            if node is None or isinstance(node, serializers.ListSerializer):
                return None  # a nested list: each of its rows is looked up on its own
            path.append(node)
            node = node.parent
        rows = list(root.instance)
        for nested in reversed(path):
            try:
                rows = [value for row in rows if (value := nested.get_attribute(row)) is not None]
            except (AttributeError, KeyError, serializers.SkipField):
                return None
        return rows


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

    def get_fields(self):
        """The declared fields, each relation to a tenant record followed by `<name>_deleted`."""
        fields = {}
        for name, field in super().get_fields().items():
            fields[name] = field
            foreign_key = self._tenant_foreign_key(name, field)
            if foreign_key is not None and f"{name}_deleted" not in fields:
                fields[f"{name}_deleted"] = ReferenceDeletedField(foreign_key)
        return fields

    def _tenant_foreign_key(self, name, field):
        # Fields are not bound yet: `source` is set only when given.
        source = field.source or name
        if not isinstance(field, serializers.RelatedField) or "." in source:
            return None
        try:
            model_field = self.Meta.model._meta.get_field(source)
        except FieldDoesNotExist:
            return None
        if model_field.many_to_one and getattr(model_field.related_model, "_is_tenant_model", False):
            return model_field
        return None

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
        meta = view.model._meta
        if access is Access.RESTORE:
            self.message = (
                f"Only {rule.who(access).value} may list or restore deleted {meta.verbose_name_plural}."
            )
        else:
            self.message = f"Only {rule.who(access).value} may {access.value} this {meta.verbose_name}."
        return False


class RoleRuleMixin:
    """What a request asks of the model's role rule: read, create, change or delete.

    `read_actions` names the extra actions that only look (a POST that previews, say); any other
    non-safe extra action on a list is a create, and on a record a change.
    """

    read_actions: frozenset[str] = frozenset()

    def role_rule(self) -> RoleRule:
        return rule_of(self.model)

    def reads_trash(self) -> bool:
        """Whether the request is about deleted records: a restore, or a read with `?deleted=true`."""
        return False

    def access_of_request(self) -> Access:
        if self.reads_trash():
            return Access.RESTORE
        if self.request.method in permissions.SAFE_METHODS or self.action in self.read_actions:
            return Access.READ
        if self.request.method == "DELETE":
            return Access.DELETE
        if not self.detail and self.request.method == "POST":
            return Access.CREATE
        return Access.CHANGE


TRASH_PARAMETER = OpenApiParameter(
    "deleted",
    OpenApiTypes.BOOL,
    description=(
        "true: only deleted records (owners and admins; members get 403). false or absent: only live ones."
    ),
)


class TenantViewSet(RoleRuleMixin, SingleCompanyWritesMixin, viewsets.ModelViewSet):
    """Base of every tenant viewset: scoped queries, company set by the server, soft delete, 404s.

    Subclasses set `model` and may narrow the scoped queryset in `safely_get_queryset`. A view
    that must read outside the current company defines `dangerously_get_queryset` instead, so a
    reviewer sees it. Deleted records are the trash: `?deleted=true` lists or reads them, and
    `POST {id}/restore` brings one back (tenancy.trash), for owners and admins.
    """

    model = None
    permission_classes = [FollowsRoleRule]
    # Read by core's strict filter backend; a subclass naming its own lists "deleted" too.
    extra_query_parameters = ("deleted",)

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
        manager = self.model._default_manager
        if self.reads_trash():
            return self._with_references(
                self.safely_get_queryset(manager.including_deleted().filter(is_deleted=True))
            )
        return self._with_references(self.safely_get_queryset(manager.all()))

    def _with_references(self, queryset):
        """Reads join the records a representation names, so its `<name>_deleted` flags cost no query."""
        if self.request is None or self.request.method not in permissions.SAFE_METHODS:
            return queryset
        if queryset._fields is not None or queryset.query.deferred_loading[0]:
            return queryset  # values() or only(): the view reads what it chose
        # Not a key to the model's own table (a folder's parent): the page would read that table twice,
        # once by primary key; those flags are read for the whole page in one query instead.
        names = [
            field.name for field in tenant_foreign_keys(self.model) if field.related_model is not self.model
        ]
        return queryset.select_related(*names) if names else queryset

    def reads_trash(self) -> bool:
        if self.action == "restore":
            return True
        if self.request is None or self.request.method not in permissions.SAFE_METHODS:
            return False
        value = self.request.query_params.get("deleted", "")
        if value not in {"", "true", "false"}:
            raise BadRequest("`deleted` is true (only deleted records) or false (only live ones).")
        return value == "true"

    def server_assigned_fields(self) -> dict:
        """Values the server sets on create, never the request body: the creating user."""
        field_names = {field.name for field in self.model._meta.get_fields()}
        return {"user": self.request.user} if "user" in field_names else {}

    def perform_create(self, serializer):
        serializer.save(**self.server_assigned_fields())

    def perform_destroy(self, instance):
        instance.soft_delete()

    @extend_schema(parameters=[TRASH_PARAMETER])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[TRASH_PARAMETER])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=None,
        summary="Restore a deleted record",
        description=(
            "Brings a deleted record back (owners and admins). 404 for a live record or another "
            "company's; 409 when a live record holds what it needs (a name, a number) or what it "
            "belongs to is deleted. The restore is written to the audit log."
        ),
    )
    # Its own methods, so a viewset that offers no POST of its own (notifications) restores too.
    @action(detail=True, methods=["post"], http_method_names=["post", "options"])
    def restore(self, request, pk=None):
        """Bring a deleted record back into every list and picker."""
        record = restore_record(self.get_object(), actor=request.user, request=request)
        return Response(self.get_serializer(record).data)


def exception_handler(exc, context):
    """Tenancy errors as 4xx (a cross-company reference is a 400, no company a 403), then core's mapping."""
    if isinstance(exc, StillReferenced):
        response = core_exception_handler(exc, context)
        response.data["referenced_by"] = exc.referenced_by
        return response
    if isinstance(exc, CrossTenantWrite):
        logger.error("cross-company write refused: %s", exc)
        exc = BadRequest("A referenced record does not exist.")
    elif isinstance(exc, NoTenantContext):
        exc = APIException("No company is selected for this request.")
        exc.status_code = status.HTTP_403_FORBIDDEN
    return core_exception_handler(exc, context)
