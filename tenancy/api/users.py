"""The company's users through the API: everyone reads them; owners and admins invite and change them."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import DetailSerializer, StrictJsonTypesMixin, StrictSerializer
from core.api.filters import BooleanFilter
from core.api.throttles import PUBLIC_THROTTLES

from ..auth import issue_tokens
from ..models import User
from ..roles import COMPANY_SETTINGS, RoleRule
from ..services import (
    UserChangeInvalid,
    UserChangeRefused,
    accept_invitation,
    change_user,
    invite_user,
    resend_invitation,
)
from .auth import BearerChallengeMixin, LoginResponseSerializer, MeSerializer
from .base import FollowsRoleRule, RoleRuleMixin, SingleCompanyWritesMixin


class UserSerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    """A user of a company, as assignment pickers and the team page show them."""

    company = serializers.UUIDField(source="company_id", read_only=True)
    invitation_pending = serializers.SerializerMethodField(help_text="Invited, and no password chosen yet.")

    class Meta:
        model = User
        fields = [
            "id",
            "company",
            "email",
            "full_name",
            "role",
            "is_active",
            "invitation_pending",
            "last_login",
            "date_joined",
        ]
        read_only_fields = fields

    def get_invitation_pending(self, user) -> bool:
        return not user.has_usable_password()


class InviteSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(choices=User.Role.choices, default=User.Role.MEMBER)


class UserChangeSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=User.Role.choices, required=False)
    is_active = serializers.BooleanField(
        required=False, help_text="false deactivates: the user's tokens and sessions stop working."
    )


def _as_api_error(error: UserChangeRefused | UserChangeInvalid) -> Exception:
    if isinstance(error, UserChangeRefused):
        return PermissionDenied(str(error))
    if error.field == "detail":
        return ValidationError({"detail": error.message})
    return ValidationError({error.field: [error.message]})


class UserFilter(django_filters.FilterSet):
    """A role, and active or not (`true`/`false`; another word is a 400)."""

    is_active = BooleanFilter()

    class Meta:
        model = User
        fields = ["role", "is_active"]


class UserViewSet(
    RoleRuleMixin,
    SingleCompanyWritesMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The company's users; a super admin without X-Company-ID reads every company's."""

    model = User
    serializer_class = UserSerializer
    permission_classes = [FollowsRoleRule]
    http_method_names = ["get", "post", "patch", "head", "options"]
    filterset_class = UserFilter
    search_fields = ["email", "full_name"]
    ordering_fields = ["email", "full_name", "date_joined", "last_login"]
    ordering = ["email"]

    def role_rule(self) -> RoleRule:
        # Everyone reads the team; owners and admins change it, within tenancy.roles.user_change_refusal.
        return COMPANY_SETTINGS

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return User.objects.none()
        # Row-level security shows the same rows; the filter also leaves out platform super admins.
        return User.objects.in_current_company().order_by("email")

    @extend_schema(request=InviteSerializer, responses={201: UserSerializer, 400: DetailSerializer})
    def create(self, request, *args, **kwargs):
        """Invite a user by e-mail: they get a single-use, expiring link to choose their password."""
        body = InviteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            user = invite_user(invited_by=request.user, **body.validated_data)
        except (UserChangeRefused, UserChangeInvalid) as error:
            raise _as_api_error(error) from error
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=UserChangeSerializer, responses={200: UserSerializer, 400: DetailSerializer})
    def partial_update(self, request, *args, **kwargs):
        """Change a user's role, or deactivate (and reactivate) them."""
        user = self.get_object()
        body = UserChangeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            user = change_user(user, changed_by=request.user, **body.validated_data)
        except (UserChangeRefused, UserChangeInvalid) as error:
            raise _as_api_error(error) from error
        return Response(UserSerializer(user).data)

    @extend_schema(request=None, responses={200: UserSerializer, 400: DetailSerializer})
    @action(detail=True, methods=["post"], url_path="resend-invitation")
    def resend_invitation(self, request, *args, **kwargs):
        """A new invitation link for a user who has not chosen a password; earlier links stop working."""
        user = self.get_object()
        try:
            user = resend_invitation(user, invited_by=request.user)
        except (UserChangeRefused, UserChangeInvalid) as error:
            raise _as_api_error(error) from error
        return Response(UserSerializer(user).data)


class AcceptInvitationSerializer(StrictSerializer):
    token = serializers.CharField(write_only=True, max_length=1000)
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=4096)


class AcceptInvitationView(BearerChallengeMixin, APIView):
    """An invited user chooses their password with the link's token, and is signed in."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = PUBLIC_THROTTLES
    throttle_key_kind = "invitation"

    def throttle_key(self, request) -> str:
        return str(request.data.get("token", "")) if hasattr(request.data, "get") else ""

    @extend_schema(
        request=AcceptInvitationSerializer,
        responses={200: LoginResponseSerializer, 400: DetailSerializer, 429: DetailSerializer},
        auth=[],
    )
    def post(self, request):
        body = AcceptInvitationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            user = accept_invitation(body.validated_data["token"], body.validated_data["password"])
        except UserChangeInvalid as error:
            raise _as_api_error(error) from error
        return Response({**issue_tokens(user), "user": MeSerializer(user).data})


routes = [("users", UserViewSet, "user")]
