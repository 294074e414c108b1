"""The fail-closed managers of tenant models and users, and the check that references stay in one company."""

import functools

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone

from .context import NO_CONTEXT_HELP, current_scope
from .exceptions import CrossTenantWrite, NoTenantContext


@functools.cache
def company_owned_foreign_keys(model) -> tuple:
    """Foreign keys of a model that point at rows owned by a company (tenant rows and users)."""
    user_model = get_user_model()
    return tuple(
        field
        for field in model._meta.concrete_fields
        if field.many_to_one
        and field.name != "company"
        and (field.related_model is user_model or getattr(field.related_model, "_is_tenant_model", False))
    )


def stored_references(obj) -> dict:
    """The company-owned references of a row as they are now, to remember as stored."""
    # Read from __dict__: a deferred field stays unloaded (and simply unremembered).
    values = obj.__dict__
    return {
        field.attname: field.target_field.to_python(values[field.attname])
        for field in company_owned_foreign_keys(type(obj))
        if values.get(field.attname) is not None
    }


def verify_same_company(objs) -> None:
    """Raise CrossTenantWrite when any object points at a row of another company."""
    objs = list(objs)
    if not objs:
        return
    for field in company_owned_foreign_keys(type(objs[0])):
        wanted: dict = {}
        for obj in objs:
            # An id given as a string must match the UUID keys read back from the database.
            value = field.target_field.to_python(getattr(obj, field.attname))
            if value is None:
                continue
            if _kept_as_stored(obj, field, value):
                continue
            if field.is_cached(obj):
                related = field.get_cached_value(obj)
                if related is not None and related.pk == value:
                    _check_reference(type(obj), field, obj.company_id, related.company_id)
                    continue
            wanted.setdefault(value, []).append(obj)
        if not wanted:
            continue
        owners = _owning_companies(field, wanted)
        for value, referrers in wanted.items():
            for obj in referrers:
                _check_reference(type(obj), field, obj.company_id, owners.get(value, _NOT_FOUND))


_NOT_FOUND = object()


def _kept_as_stored(obj, field, value) -> bool:
    """True when a saved row keeps a reference as it was read from the database.

    Such a reference was checked when it was written, and may name a row this scope cannot read: a
    platform super admin's user row is hidden from a company's scope by row-level security, yet a
    contact or document they created in that company keeps them as its user.
    """
    if obj._state.adding:
        return False
    stored = getattr(obj, "_stored_references", None) or {}
    return stored.get(field.attname, _NOT_FOUND) == value


def _owning_companies(field, pks) -> dict:
    """The company of each referenced row this transaction may see, in one query."""
    # The base manager reads the referenced rows without scoping, only to compare companies.
    # Row-level security hides another company's rows, so such a row is simply absent here.
    return dict(field.related_model._base_manager.filter(pk__in=list(pks)).values_list("pk", "company_id"))


def _check_reference(model, field, company_id, related_company_id) -> None:
    """Refuse a reference from a row of `company_id` to a row of another company, or to no row."""
    if related_company_id is _NOT_FOUND:
        # Not visible in this company: refused like a foreign row (a missing row would fail its FK anyway).
        raise CrossTenantWrite(
            f"{model.__name__}.{field.name} points at a {field.related_model.__name__} "
            "that does not exist in this company."
        )
    if related_company_id == company_id:
        return
    if field.related_model is get_user_model() and related_company_id is None:
        return  # Platform super admins act inside any company they support.
    raise CrossTenantWrite(
        f"{model.__name__}.{field.name} points at a {field.related_model.__name__} "
        f"of another company; references never cross companies."
    )


class TenantQuerySet(models.QuerySet):
    """Querysets whose bulk writes keep every row inside the current company."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for obj in objs:
            obj._assign_company()
        verify_same_company(objs)
        return super().bulk_create(objs, *args, **kwargs)

    def update(self, **kwargs):
        if {"company", "company_id"} & kwargs.keys():
            raise CrossTenantWrite("Records never change company; update() refuses `company`.")
        self._verify_update_references(kwargs)
        return super().update(**kwargs)

    def _verify_update_references(self, values: dict) -> None:
        scope = current_scope()
        for field in company_owned_foreign_keys(self.model):
            for key in (field.name, field.attname):
                if values.get(key) is None:
                    continue
                if scope is None or scope.company_id is None:
                    raise CrossTenantWrite(
                        f"update() of {self.model.__name__}.{field.name} needs one company in the context."
                    )
                target = field.target_field.to_python(getattr(values[key], "pk", values[key]))
                owner = _owning_companies(field, [target]).get(target, _NOT_FOUND)
                _check_reference(self.model, field, scope.company_id, owner)

    def soft_delete(self) -> int:
        """Mark every row of this queryset deleted."""
        return super().update(is_deleted=True, updated_at=timezone.now())


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Default manager: the current company's live rows, and an error when no company is set."""

    use_in_migrations = False

    def get_queryset(self):
        return self._scoped(is_deleted=False)

    def including_deleted(self):
        """The current company's rows, soft-deleted ones too (e.g. so a number is never reused)."""
        return self._scoped()

    def _scoped(self, **conditions):
        scope = current_scope()
        if scope is None:
            raise NoTenantContext(f"Query on {self.model.__name__} refused. {NO_CONTEXT_HELP}")
        if scope.company_id is not None:
            conditions["company_id"] = scope.company_id
        # One filter() for all conditions: every queryset of every request is built here (bench/scoping.py).
        queryset = super().get_queryset()
        return queryset.filter(**conditions) if conditions else queryset


class ReadsInScopeQuerySet(models.QuerySet):
    """Users or companies: a query run with no tenant context is refused, as tenant managers do.

    Row-level security shows these rows only inside a scope, so a read without one would find nothing
    and look like a missing row; an error says what is wrong. Querysets may still be built anywhere
    (form fields are, at import); they are checked when they run. Look-ups before any company is known
    (signing in) go through tenancy.identity.
    """

    def _require_scope(self) -> None:
        if current_scope() is None:
            raise NoTenantContext(f"Query on {self.model.__name__} refused. {NO_CONTEXT_HELP}")

    def _fetch_all(self):
        if self._result_cache is None:
            self._require_scope()
        super()._fetch_all()

    def iterator(self, *args, **kwargs):
        self._require_scope()
        return super().iterator(*args, **kwargs)

    def count(self):
        self._require_scope()
        return super().count()

    def exists(self):
        self._require_scope()
        return super().exists()

    def aggregate(self, *args, **kwargs):
        self._require_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs):
        self._require_scope()
        return super().update(**kwargs)

    def delete(self):
        self._require_scope()
        return super().delete()


class UserQuerySet(ReadsInScopeQuerySet):
    """Users, unscoped by default (signing in finds one before any company is known), scoped on request."""

    def in_current_company(self):
        """The current company's users; every company's in an all-companies scope; an error with none."""
        scope = current_scope()
        if scope is None:
            raise NoTenantContext(f"Query on users of the current company refused. {NO_CONTEXT_HELP}")
        if scope.company_id is None:
            # Platform super admins belong to no company, so they are no company's users.
            return self.filter(company__isnull=False)
        return self.filter(company_id=scope.company_id)
