"""Admin pages for companies, users and the audit log, and the base admin of every tenant model."""

from contextlib import AbstractContextManager, nullcontext

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from core.exceptions import StateConflict

from .admin_lists import CappedCountPaginator
from .admin_site import refuse_foreign_context
from .context import company_context, current_scope, require_company_id
from .managers import company_owned_foreign_keys
from .models import AuditLog, Company, User
from .roles import Access, rule_of
from .scoping import scoped_choices
from .trash import restore_record


def _is_platform_admin(request) -> bool:
    return bool(getattr(request.user, "is_platform_admin", False))


def _is_deleted(obj) -> bool:
    return bool(getattr(obj, "is_deleted", False))


def inside_company_of(obj) -> AbstractContextManager:
    """The record's own company while a super admin acts across all companies; else the request's scope.

    Services called from the admin (workflow triggers, numbering, notifications) then see one
    company, the record's, exactly as in a company user's request. Inside one company nothing
    changes, so TenantModel.save still refuses a record of another company.
    """
    scope = current_scope()
    if scope is not None and scope.company_id is None and getattr(obj, "company_id", None) is not None:
        return company_context(obj.company_id)
    return nullcontext()


def hidden_relations(obj) -> dict:
    """Relations of a stored record to rows the current scope cannot read, as read-only stand-ins.

    A contact a platform super admin created is owned by the super admin, whose user row a
    company's scope cannot read (row-level security): the form could neither show nor post it, and
    saving would clear it. Such a relation is shown read-only instead, and kept.
    """
    if obj is None or obj.pk is None:
        return {}
    cached = getattr(obj, "_hidden_relations", None)
    if cached is not None:
        return cached
    hidden = {}
    for field in company_owned_foreign_keys(type(obj)):
        value = getattr(obj, field.attname)
        # The base manager reads deleted rows too; only a row row-level security hides is absent.
        if value is not None and not field.related_model._base_manager.filter(pk=value).exists():
            hidden[field.name] = _kept_relation(field)
    obj._hidden_relations = hidden
    return hidden


def _kept_relation(field):
    def kept(obj):
        return f"kept as stored (a {field.related_model._meta.verbose_name} this company cannot view)"

    kept.short_description = field.verbose_name
    kept.__name__ = f"kept_{field.name}"
    return kept


def offer_stored_relations(form, obj) -> None:
    """Add to each relation's choices the row the record stores, when the choices leave it out.

    A deal whose account was soft-deleted would open with an empty account and lose it on save;
    the stored row is offered as "deleted: <name>" (or "inactive: <name>" for a user) instead, and
    the user may still pick another.
    """
    for field in company_owned_foreign_keys(type(obj)):
        form_field = form.base_fields.get(field.name)
        value = getattr(obj, field.attname)
        if form_field is None or value is None or form_field.queryset.filter(pk=value).exists():
            continue
        stored = field.related_model._base_manager.filter(pk=value)
        if not stored.exists():
            continue
        form_field.queryset = form_field.queryset | stored
        form_field.label_from_instance = _label_marking(value)


def _label_marking(stored_pk):
    def label(row) -> str:
        if row.pk != stored_pk:
            return str(row)
        if getattr(row, "is_deleted", False):
            return f"deleted: {row}"
        if getattr(row, "is_active", True) is False:
            return f"inactive: {row}"
        return f"no longer offered: {row}"

    return label


class TrashFilter(admin.SimpleListFilter):
    """Live records, as every list shows them, or the deleted ones (owners and admins)."""

    title = "trash"
    parameter_name = "trash"

    def lookups(self, request, model_admin):
        return [("deleted", "Deleted")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Live",
        }
        yield {
            "selected": self.value() == "deleted",
            "query_string": changelist.get_query_string({self.parameter_name: "deleted"}),
            "display": "Deleted",
        }

    def queryset(self, request, queryset):
        return queryset  # TenantModelAdmin.get_queryset already chose live or deleted rows


class TenantModelAdmin(admin.ModelAdmin):
    """Base admin of every tenant model: the current company's rows, choices and saves only.

    Company staff see their own company's records; platform super admins see every company's,
    with a company column and filter, and pick the company of a new record themselves. Owners and
    admins filter the list to the trash (deleted records), open a deleted record's page (read-only)
    and restore records with the "Restore" action (tenancy.trash).

    At a large company's size every page stays small: relations to rows of a company or its users
    are chosen by autocomplete (never a <select> of every row), and the changelist counts at most
    10,000 rows. A change form keeps every relation it stores unless the user changes it.
    """

    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_queryset(self, request):
        refuse_foreign_context(request)
        if not self._shows_trash(request):
            return super().get_queryset(request)
        deleted = self.model._default_manager.including_deleted().filter(is_deleted=True)
        ordering = self.get_ordering(request)
        return deleted.order_by(*ordering) if ordering else deleted

    def has_restore_permission(self, request) -> bool:
        """Owners and admins list deleted records and restore them (the model's role rule)."""
        return self._rule_allows(request, Access.RESTORE)

    def _shows_trash(self, request) -> bool:
        wanted = request.GET.get(TrashFilter.parameter_name) == "deleted" or getattr(
            request, "_reads_deleted_record", False
        )
        return wanted and self.has_restore_permission(request)

    def get_object(self, request, object_id, from_field=None):
        found = super().get_object(request, object_id, from_field)
        if found is not None or not self.has_restore_permission(request):
            return found
        # A deleted record's page stays reachable for those who may restore it, from the trash or
        # from a record that still names it; read through this admin's own (narrowed) queryset.
        request._reads_deleted_record = True
        try:
            return super().get_object(request, object_id, from_field)
        finally:
            del request._reads_deleted_record

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self._shows_trash(request):
            actions.pop("delete_selected", None)
            actions["restore_selected"] = (
                TenantModelAdmin.restore_selected,
                "restore_selected",
                "Restore selected %(verbose_name_plural)s",
            )
        return actions

    def restore_selected(self, request, queryset):
        """Restore each selected deleted record; one that a rule keeps deleted is named with the reason."""
        restored = 0
        for record in queryset:
            try:
                with inside_company_of(record):
                    restore_record(record, actor=request.user, request=request)
            except StateConflict as refusal:
                self.message_user(request, f"{record}: {' '.join(refusal.messages)}", messages.ERROR)
            else:
                restored += 1
        if restored:
            self.message_user(request, f"Restored {restored} {self._plural(restored)}.", messages.SUCCESS)

    def _plural(self, count: int) -> str:
        meta = self.model._meta
        return meta.verbose_name if count == 1 else meta.verbose_name_plural

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.is_deleted:
            self.message_user(
                request,
                f"This {self.model._meta.verbose_name} is deleted. To bring it back, filter the list "
                "By trash: Deleted and choose the action Restore.",
                messages.WARNING,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        if _is_platform_admin(request) and "company" not in columns:
            columns.insert(1, "company")
        return columns

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if _is_platform_admin(request) and "company" not in filters:
            filters.insert(0, "company")
        if self.has_restore_permission(request):
            filters.append(TrashFilter)
        return filters

    def get_list_select_related(self, request):
        related = super().get_list_select_related(request)
        if (
            isinstance(related, list | tuple)
            and "company" not in related
            and "company" in self.get_list_display(request)
        ):
            # The super admin's company column, in the changelist's one query instead of one per row.
            return [*related, "company"]
        return related

    def get_autocomplete_fields(self, request):
        declared = list(super().get_autocomplete_fields(request))
        return declared + [
            field.name
            for field in self.model._meta.get_fields()
            if (field.many_to_one or field.many_to_many)
            and field.concrete
            and field.name != "company"
            and field.name not in declared
            and self._is_searchable(field.related_model)
        ]

    def _is_searchable(self, model) -> bool:
        """Whether the admin of model answers autocomplete (it must search), for a company's rows or users."""
        if model is not get_user_model() and not getattr(model, "_is_tenant_model", False):
            return False
        related_admin = self.admin_site._registry.get(model)
        return related_admin is not None and bool(related_admin.search_fields)

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        return [*excluded, "is_deleted"]

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f != "company"]
        hidden = hidden_relations(obj)
        # A relation to a row this company cannot read is shown read-only, so the form never posts it.
        fields = [hidden.get(f, f) for f in fields]
        scope = current_scope()
        if _is_platform_admin(request) and scope is not None and scope.company_id is None:
            # Across all companies a super admin names the company of a new record; it never moves.
            fields.insert(0, "company")
        return fields

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly
        hidden = hidden_relations(obj)
        return [*(hidden.get(f, f) for f in readonly), *hidden.values(), "company"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "company":
            kwargs["queryset"] = Company.objects.filter(is_active=True)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and current_scope() is not None and current_scope().company_id is None:
            # A super admin editing across companies chooses only among the record's own company.
            with company_context(obj.company_id):
                for field in form.base_fields.values():
                    model = getattr(getattr(field, "queryset", None), "model", None)
                    if model is get_user_model() or getattr(model, "_is_tenant_model", False):
                        field.queryset = scoped_choices(model)
        if obj is not None:
            offer_stored_relations(form, obj)
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if related is get_user_model() or getattr(related, "_is_tenant_model", False):
            kwargs["queryset"] = scoped_choices(related)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if getattr(db_field.related_model, "_is_tenant_model", False):
            kwargs["queryset"] = scoped_choices(db_field.related_model)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        with inside_company_of(obj):
            self.save_record(request, obj, form, change)

    def save_record(self, request, obj, form, change):
        """Save the record inside its company; admins whose saves go through a service override this."""
        # TenantModel.save assigns the current company and refuses another company's row.
        obj.save()

    def save_related(self, request, form, formsets, change):
        with inside_company_of(form.instance):
            super().save_related(request, form, formsets, change)

    def delete_model(self, request, obj):
        with inside_company_of(obj):
            self.delete_record(request, obj)

    def delete_record(self, request, obj):
        """Delete the record inside its company: a soft delete unless a service says otherwise."""
        obj.soft_delete()

    def delete_queryset(self, request, queryset):
        queryset.soft_delete()

    def _is_member_staff(self, request) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return user.is_platform_admin or user.company_id is not None

    def _rule_allows(self, request, access: Access, obj=None) -> bool:
        # The model's role rule, the very one its API follows (tenancy.roles).
        return self._is_member_staff(request) and rule_of(self.model).allows(request.user, access, obj)

    def has_module_permission(self, request):
        return self._rule_allows(request, Access.READ)

    def has_view_permission(self, request, obj=None):
        return self._rule_allows(request, Access.READ, obj)

    def has_add_permission(self, request):
        return self._rule_allows(request, Access.CREATE)

    def has_change_permission(self, request, obj=None):
        # A deleted record is shown as it was; it changes again once restored.
        return not _is_deleted(obj) and self._rule_allows(request, Access.CHANGE, obj)

    def has_delete_permission(self, request, obj=None):
        return not _is_deleted(obj) and self._rule_allows(request, Access.DELETE, obj)


class ManagedSettingsAdmin(TenantModelAdmin):
    """Company settings: every staff member may look; the model's rule leaves changes to managers."""


class ServiceRecordAdmin(TenantModelAdmin):
    """Records only the services create (messages, calls): viewed here, soft-deleted by managers.

    A row added or edited in the admin would skip every rule of the service (and a queued message
    would really be sent by the outbox), so neither is offered.
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CompanyUserCreationForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("email", "full_name", "company", "role")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "company" in self.fields:
            # The admin adds company users only; platform super admins come from createsuperuser.
            self.fields["company"].required = True


class CompanyUserChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    """Companies: platform super admins manage all; company staff see their own."""

    list_display = ["name", "slug", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["id", "created_at", "updated_at"]

    def get_queryset(self, request):
        refuse_foreign_context(request)
        companies = super().get_queryset(request)
        if _is_platform_admin(request):
            return companies
        return companies.filter(pk=require_company_id())

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return _is_platform_admin(request)

    def has_change_permission(self, request, obj=None):
        return _is_platform_admin(request)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users: super admins manage everyone; a company's owners and admins manage its users."""

    form = CompanyUserChangeForm
    add_form = CompanyUserCreationForm
    ordering = ["email"]
    list_display = ["email", "full_name", "company", "role", "is_active", "is_staff", "last_login"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["last_login", "date_joined"]

    platform_fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name", "phone", "company", "role")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    company_fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name", "phone", "role")}),
        ("Access", {"fields": ("is_active", "is_staff")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "company", "role")}),
        ("Password", {"fields": ("password1", "password2")}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            fieldsets = super().get_fieldsets(request, obj)
            if _is_platform_admin(request):
                return fieldsets
            return tuple(
                (name, {**opts, "fields": tuple(f for f in opts["fields"] if f != "company")})
                for name, opts in fieldsets
            )
        return self.platform_fieldsets if _is_platform_admin(request) else self.company_fieldsets

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        return ["company", *filters] if _is_platform_admin(request) else filters

    def get_queryset(self, request):
        refuse_foreign_context(request)
        users = super().get_queryset(request)
        if _is_platform_admin(request):
            return users
        return users.in_current_company()

    def save_model(self, request, obj, form, change):
        if not _is_platform_admin(request):
            # Company staff only ever manage users of their own company.
            obj.company_id = require_company_id()
            obj.is_superuser = False
        super().save_model(request, obj, form, change)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def _manages(self, request) -> bool:
        return self.has_module_permission(request) and request.user.can_manage_company

    def has_add_permission(self, request):
        return self._manages(request)

    def has_change_permission(self, request, obj=None):
        return self._manages(request) and self._may_manage_role_of(request, obj)

    def _may_manage_role_of(self, request, obj) -> bool:
        """Only owners (and super admins) manage owners; admins manage admins and members."""
        if obj is None or _is_platform_admin(request) or request.user.role == User.Role.OWNER:
            return True
        return obj.role != User.Role.OWNER

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and not (
            _is_platform_admin(request) or request.user.role == User.Role.OWNER
        ):
            kwargs["choices"] = [c for c in User.Role.choices if c[0] != User.Role.OWNER]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return self._manages(request) and obj != request.user and self._may_manage_role_of(request, obj)


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """The audit log, read-only: platform super admins read every entry, a company's managers their own."""

    list_display = ["created_at", "actor", "action", "company", "method", "path", "ip_address"]
    list_filter = ["action"]
    list_select_related = ["actor", "company"]
    search_fields = ["path", "actor__email"]
    date_hierarchy = "created_at"
    # The list needs no count of every entry to page, which a large log would pay on every view.
    show_full_result_count = False
    paginator = CappedCountPaginator

    def get_queryset(self, request):
        refuse_foreign_context(request)
        entries = super().get_queryset(request)
        if _is_platform_admin(request) and current_scope().spans_all_companies:
            return entries
        return entries.filter(company_id=require_company_id())

    def get_list_filter(self, request):
        return ["action", "company"] if _is_platform_admin(request) else ["action"]

    def _may_read(self, request) -> bool:
        user = request.user
        return _is_platform_admin(request) or (
            user.is_active
            and user.is_staff
            and user.company_id is not None
            and rule_of(AuditLog).allows(user, Access.READ)
        )

    def has_module_permission(self, request):
        return self._may_read(request)

    def has_view_permission(self, request, obj=None):
        return self._may_read(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
