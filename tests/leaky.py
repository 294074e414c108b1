"""Deliberately broken viewsets and serializers: the canaries the isolation matrix must catch.

Never import these outside tests/test_isolation_matrix.py.
"""

from django.db import connection
from rest_framework import permissions, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from crm.api import ContactSerializer, ContactViewSet, DealViewSet
from crm.models import Account, Contact
from tenancy.context import require_company_id
from tenancy.rls import set_scope
from tenancy.sealed_scope import EVERY_COMPANY


class PastRowLevelSecurity:
    """Also opens PostgreSQL's row-level security to every company, as code sealing the wrong scope would."""

    def initial(self, request, *args, **kwargs):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")  # the request's own scope is set first, then overridden
            set_scope(connection.connection, EVERY_COMPANY)
        super().initial(request, *args, **kwargs)


class EveryCompanyListViewSet(PastRowLevelSecurity, ContactViewSet):
    """Reads every company's contacts."""

    def dangerously_get_queryset(self):
        return self.model._base_manager.filter(is_deleted=False)


class EveryCompanyAccountSerializer(ContactSerializer):
    """Accepts any company's account; the model layer still refuses the save."""

    account = serializers.PrimaryKeyRelatedField(
        queryset=Account._base_manager.filter(is_deleted=False), required=False, allow_null=True
    )


class EveryCompanyAccountViewSet(PastRowLevelSecurity, ContactViewSet):
    serializer_class = EveryCompanyAccountSerializer


class UnguardedSaveSerializer(EveryCompanyAccountSerializer):
    """Accepts any company's account and stores it without the model's save checks."""

    def create(self, validated_data):
        contact = Contact(**validated_data, company_id=require_company_id())
        Contact._base_manager.bulk_create([contact])
        return contact

    def update(self, instance, validated_data):
        Contact._base_manager.filter(pk=instance.pk).update(**validated_data)
        instance.refresh_from_db()
        return instance


class UnguardedSaveViewSet(PastRowLevelSecurity, ContactViewSet):
    serializer_class = UnguardedSaveSerializer


class HardDeleteViewSet(ContactViewSet):
    """Scoped, but DELETE destroys the row instead of marking it deleted."""

    def perform_destroy(self, instance):
        instance.delete()


class ForeignDeleteViewSet(PastRowLevelSecurity, ContactViewSet):
    """DELETE reaches every company's contacts and marks them deleted behind the model's back."""

    def dangerously_get_queryset(self):
        if self.request.method == "DELETE":
            return self.model._base_manager.filter(is_deleted=False)
        return self.model.objects.all()

    def perform_destroy(self, instance):
        self.model._base_manager.filter(pk=instance.pk).update(is_deleted=True)


class ForeignPatchViewSet(PastRowLevelSecurity, ContactViewSet):
    """PATCH reaches every company's contacts and writes past the model's save checks."""

    def dangerously_get_queryset(self):
        if self.request.method == "PATCH":
            return self.model._base_manager.filter(is_deleted=False)
        return self.model.objects.all()

    def perform_update(self, serializer):
        Contact._base_manager.filter(pk=serializer.instance.pk).update(**serializer.validated_data)


class ForeignRestoreViewSet(PastRowLevelSecurity, ContactViewSet):
    """Restore reaches every company's deleted contacts and brings them back behind the model's back."""

    def dangerously_get_queryset(self):
        if self.action == "restore":
            return self.model._base_manager.filter(is_deleted=True)
        return self.model.objects.all()

    @action(detail=True, methods=["post"], http_method_names=["post", "options"])
    def restore(self, request, pk=None):
        self.model._base_manager.filter(pk=self.get_object().pk).update(is_deleted=False)
        return Response(status=200)


class NoRoleRuleDealViewSet(DealViewSet):
    """Only asks that the caller be signed in: a member changes and deletes a colleague's deal."""

    permission_classes = [permissions.IsAuthenticated]


LEAKY_ROUTES = [
    ("no-role-rule", NoRoleRuleDealViewSet),
    ("every-company-list", EveryCompanyListViewSet),
    ("every-company-account", EveryCompanyAccountViewSet),
    ("unguarded-save", UnguardedSaveViewSet),
    ("hard-delete", HardDeleteViewSet),
    ("foreign-delete", ForeignDeleteViewSet),
    ("foreign-patch", ForeignPatchViewSet),
    ("foreign-restore", ForeignRestoreViewSet),
]
