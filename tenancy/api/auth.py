"""Sign in, refresh, sign out and the current user, over JWT bearer tokens."""

import hashlib

from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.core.cache import caches
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from core.api import DetailSerializer, StrictJsonTypesMixin, StrictSerializer

from ..audit import PLATFORM_SIGN_IN
from ..auth import (
    FAMILY_CLAIM,
    ScopedRefreshToken,
    TenantJWTAuthentication,
    check_user_may_hold_token,
    issue_tokens,
    revoke_access_token,
    revoke_family,
    signed_claims,
    user_of_claims,
)
from ..context import acting_as
from ..models import Company, User


class LoginFailureThrottle(SimpleRateThrottle):
    """Counts failed sign-ins only, and refuses an attempt once its key has failed too often.

    A successful sign-in is never counted, so a person who knows their password is never throttled by
    their own use; the view records a failure after a wrong password (`record_failure`). The rate is
    read at request time so operators can tune it.
    """

    scope = "login"
    # Shared by every server process (Redis, else a database table), so workers do not each allow the rate.
    cache = caches["sign_in_failures"]

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def throttle_success(self):
        return True  # an attempt is counted only once it has failed

    def record_failure(self, request, view) -> None:
        """Count one failed sign-in against this throttle's key."""
        if self.rate is None:
            return
        key, now = self.get_cache_key(request, view), self.timer()
        history = [moment for moment in self.cache.get(key, []) if moment > now - self.duration]
        self.cache.set(key, [now, *history], self.duration)


def _signing_in_email(request) -> str:
    return str(request.data.get("email", "")).strip().lower() if hasattr(request.data, "get") else ""


def _failure_key(throttle, scope: str, *parts: str | None) -> str:
    """A fixed-length cache key: no e-mail or forwarded-address text of any length reaches the cache."""
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()
    return throttle.cache_format % {"scope": scope, "ident": digest}


class LoginByAddressThrottle(LoginFailureThrottle):
    """Failures from one client address, whatever the account (one guesser trying many accounts)."""

    def get_cache_key(self, request, view):
        return _failure_key(self, "login-ip", self.get_ident(request))


class LoginByAccountAndAddressThrottle(LoginFailureThrottle):
    """Failures on one account from one address: guessing stays slow, and only there."""

    def get_cache_key(self, request, view):
        return _failure_key(self, "login-account-ip", _signing_in_email(request), self.get_ident(request))


class LoginByAccountThrottle(LoginFailureThrottle):
    """Failures on one account from every address (distributed guessing), at a much higher limit.

    Much higher than per address, so a stranger who knows an address cannot lock its owner out with a
    handful of wrong passwords from a handful of machines.
    """

    scope = "login_account"

    def get_cache_key(self, request, view):
        return _failure_key(self, "login-account", _signing_in_email(request))


# What /api/auth/me calls a platform super admin's role: their stored "owner" is no company's role.
PLATFORM_ROLE = "platform"
ME_ROLES = [*User.Role.values, PLATFORM_ROLE]


class CompanySummarySerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    class Meta:
        model = Company
        fields = ["id", "name", "slug"]


class MeSerializer(StrictJsonTypesMixin, serializers.ModelSerializer):
    company = CompanySummarySerializer(
        read_only=True, allow_null=True, help_text="null for a platform super admin."
    )
    is_platform_admin = serializers.BooleanField(read_only=True)
    role = serializers.SerializerMethodField(
        help_text=(
            "owner, admin or member inside the user's company; platform for a platform super admin, "
            "who belongs to no company and holds no company role."
        )
    )

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "phone", "role", "company", "is_platform_admin", "last_login"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=ME_ROLES))
    def get_role(self, user) -> str:
        return PLATFORM_ROLE if user.is_platform_admin else user.role


class LoginSerializer(StrictSerializer):
    email = serializers.EmailField(write_only=True)
    password = serializers.CharField(write_only=True, trim_whitespace=False, max_length=4096)


class TokenPairSerializer(StrictSerializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class LoginResponseSerializer(TokenPairSerializer):
    user = MeSerializer()


class RefreshSerializer(StrictSerializer):
    refresh_token = serializers.CharField(write_only=True, max_length=4096)


def _refresh_token_or_401(raw: str) -> ScopedRefreshToken:
    try:
        return ScopedRefreshToken(raw)
    except TokenError as error:
        raise AuthenticationFailed(str(error), code="token_not_valid") from error


def _signed_claims_or_401(raw: str) -> dict:
    try:
        return signed_claims(raw)
    except TokenError as error:
        raise AuthenticationFailed(str(error), code="token_not_valid") from error


class BearerChallengeMixin:
    """Answers a refused credential with 401 and a bearer challenge, though the view authenticates nobody."""

    def get_authenticate_header(self, request):
        # Without a challenge DRF turns AuthenticationFailed into a 403.
        return TenantJWTAuthentication().authenticate_header(request)


class LoginView(BearerChallengeMixin, APIView):
    """Exchange an email and password for an access and a refresh token."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginByAddressThrottle, LoginByAccountAndAddressThrottle, LoginByAccountThrottle]

    @extend_schema(
        request=LoginSerializer,
        responses={200: LoginResponseSerializer, 401: DetailSerializer, 429: DetailSerializer},
        auth=[],
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request,
            email=serializer.validated_data["email"].strip().lower(),
            password=serializer.validated_data["password"],
        )
        if user is None or (user.company_id and not user.company.is_active):
            for throttle in self.get_throttles():
                throttle.record_failure(request, self)
            raise AuthenticationFailed("Email or password is incorrect.", code="invalid_credentials")
        # The user's own scope: their row and their token's record may be written only there.
        with acting_as(user, reason=PLATFORM_SIGN_IN, request=request):
            if jwt_settings.UPDATE_LAST_LOGIN:
                update_last_login(None, user)
            return Response({**issue_tokens(user), "user": MeSerializer(user).data})


class RefreshView(BearerChallengeMixin, APIView):
    """Trade a refresh token for a new pair; the old refresh token stops working."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        request=RefreshSerializer, responses={200: TokenPairSerializer, 401: DetailSerializer}, auth=[]
    )
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        raw = serializer.validated_data["refresh_token"]
        user = user_of_claims(_signed_claims_or_401(raw))
        if user is None:
            raise AuthenticationFailed("This token's user no longer exists.", code="user_not_found")
        # The token's record is visible only in its user's scope; the full check runs there.
        with acting_as(user, reason=PLATFORM_SIGN_IN, request=request):
            refresh = _refresh_token_or_401(raw)
            check_user_may_hold_token(user, refresh)
            # The blacklist row is unique per token: of two refreshes racing with one token, one wins.
            _, first_use = refresh.blacklist()
            if not first_use:
                raise AuthenticationFailed("This refresh token was used already.", code="token_reused")
            return Response(issue_tokens(user, family=refresh.get(FAMILY_CLAIM)))


INVALID_REFRESH_ON_LOGOUT = (
    "This refresh token is not valid (expired, used or malformed); nothing was signed out."
)


def _invalid_refresh_on_logout() -> Response:
    # A 204 here would tell the user they are signed out while their real refresh token lives on.
    return Response({"detail": INVALID_REFRESH_ON_LOGOUT}, status=status.HTTP_400_BAD_REQUEST)


class LogoutView(APIView):
    """Sign out: the refresh token is blacklisted and the access token refused until it expires."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=RefreshSerializer, responses={204: None, 400: DetailSerializer})
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        raw = serializer.validated_data["refresh_token"]
        try:
            claims = signed_claims(raw)
        except TokenError:
            return _invalid_refresh_on_logout()
        if str(claims.get(jwt_settings.USER_ID_CLAIM)) != str(request.user.pk):
            return Response(
                {"detail": "This refresh token belongs to another user."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        # A super admin acting inside a company signs out too: their token's record is platform-wide.
        with acting_as(request.user, reason=PLATFORM_SIGN_IN, request=request):
            try:
                refresh = ScopedRefreshToken(raw)
            except TokenError:
                return _invalid_refresh_on_logout()
            refresh.blacklist()
        revoke_family(refresh)
        if request.auth is not None:
            revoke_access_token(request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """The signed-in user, with their company and role."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        return Response(MeSerializer(request.user).data)
