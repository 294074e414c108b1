"""The companies through the API, for platform super admins alone: list, create, rename, deactivate."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.api import DetailSerializer, StrictJsonTypesMixin, StrictSerializer
from core.api.filters import BooleanFilter

from ..models import Company
from ..services import CompanyChangeInvalid, change_company, create_company_with_invitation
from .users import UserSerializer


class IsPlatformAdmin(permissions.IsAuthenticated):
    """Platform super admins only; a company's own users are refused with 403."""

    message = "Only platform super admins may manage companies."

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.is_platform_admin


class CompanySerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = ["id", "name", "slug", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class CompanyCreateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(
        max_length=80,
        required=False,
        default="",
        allow_blank=True,
        help_text="From the name if left out.",
    )
    owner_email = serializers.EmailField(max_length=254, help_text="Invited by e-mail to choose a password.")
    owner_name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class CompanyCreatedSerializer(CompanySerializer):
    owner = UserSerializer(read_only=True, help_text="The first owner, invited by e-mail.")

    class Meta(CompanySerializer.Meta):
        fields = [*CompanySerializer.Meta.fields, "owner"]
        read_only_fields = fields


class CompanyChangeSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    is_active = serializers.BooleanField(
        required=False,
        help_text="false deactivates: its users are refused until it is reactivated.",
    )


def _as_api_error(error: CompanyChangeInvalid) -> ValidationError:
    return ValidationError({error.field: [error.message]})


class CompanyFilter(django_filters.FilterSet):
    """Active companies or deactivated ones (`true`/`false`; another word is a 400)."""

    is_active = BooleanFilter()

    class Meta:
        model = Company
        fields = ["is_active"]


class CompanyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every company, for platform super admins; with X-Company-ID, that one company."""

    model = Company
    serializer_class = CompanySerializer
    permission_classes = [IsPlatformAdmin]
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_class = CompanyFilter
    search_fields = ["name", "slug"]
    ordering_fields = ["name", "slug", "created_at"]
    ordering = ["name"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Company.objects.none()
        # A super admin's request runs across all companies, or inside the one X-Company-ID names.
        return Company.objects.order_by("name", "id")

    @extend_schema(
        request=CompanyCreateSerializer, responses={201: CompanyCreatedSerializer, 400: DetailSerializer}
    )
    def create(self, request, *args, **kwargs):
        """Create a company and invite its first owner by e-mail."""
        body = CompanyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            company, owner = create_company_with_invitation(created_by=request.user, **body.validated_data)
        except CompanyChangeInvalid as error:
            raise _as_api_error(error) from error
        company.owner = owner
        return Response(CompanyCreatedSerializer(company).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CompanyChangeSerializer, responses={200: CompanySerializer, 400: DetailSerializer})
    def partial_update(self, request, *args, **kwargs):
        """Rename a company, or deactivate (and reactivate) it."""
        company = self.get_object()
        body = CompanyChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        company = change_company(company, changed_by=request.user, **body.validated_data)
        return Response(CompanySerializer(company).data)


routes = [("companies", CompanyViewSet, "company")]
