"""JWT bearer authentication bound to the user's company, and the tokens it accepts."""

import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth.models import update_last_login
from django.core.cache import caches
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from .audit import PLATFORM_SIGN_IN
from .context import acting_as
from .identity import user_before_scope

COMPANY_CLAIM = "company_id"
# One sign-in's tokens: set at sign-in, kept through every refresh, copied into each access token,
# so signing out refuses every access token that sign-in ever gave.
FAMILY_CLAIM = "family"
_RESULT_ATTR = "_tenant_jwt_result"
_NOT_TRIED = object()


class ScopedRefreshToken(RefreshToken):
    """A refresh token good only while its issue is on record, unused, and visible in the current scope.

    The token tables are under row-level security by the token's user's company, so outside that
    user's scope a look-up finds nothing: simplejwt's own check (is it blacklisted?) would then pass a
    used or revoked token. This check asks the opposite question, so a wrong scope refuses instead.
    """

    def check_blacklist(self):
        jti = self.payload[jwt_settings.JTI_CLAIM]
        if not OutstandingToken.objects.filter(jti=jti, blacklistedtoken__isnull=True).exists():
            raise TokenError(_("Token is blacklisted"))


def signed_claims(raw: str) -> dict:
    """The claims of a token whose signature and expiry hold, before its scope is known."""
    try:
        return token_backend.decode(raw, verify=True)
    except TokenBackendError as error:
        raise TokenError(_("Token is invalid")) from error


def user_of_claims(claims: dict):
    """The user a token's claims name, or None."""
    try:
        return user_before_scope(pk=claims.get(jwt_settings.USER_ID_CLAIM))
    except (DjangoValidationError, ValueError, TypeError):
        return None


def update_last_login_in_own_scope(sender, user, **kwargs) -> None:
    """Django's `update_last_login`, inside the user's own scope, the only one that may write their row."""
    with acting_as(user, reason=PLATFORM_SIGN_IN, request=kwargs.get("request")):
        update_last_login(sender, user)


def company_claim_for(user) -> str | None:
    """The company claim a token of this user must carry."""
    return str(user.company_id) if user.company_id else None


def check_user_may_hold_token(user, token) -> None:
    """Refuse a token of an inactive user, of an inactive company, or issued for another company."""
    if not user.is_active:
        raise AuthenticationFailed(_("This account is inactive."), code="user_inactive")
    if COMPANY_CLAIM not in token.payload:
        raise InvalidToken(_("Token carries no company claim; sign in again."))
    if token.payload[COMPANY_CLAIM] != company_claim_for(user):
        raise AuthenticationFailed(
            _("This token was issued for another company; sign in again."), code="company_mismatch"
        )
    if user.company_id and not user.company.is_active:
        raise AuthenticationFailed(_("This company's account is deactivated."), code="company_inactive")


def issue_tokens(user, *, family: str | None = None) -> dict:
    """A fresh refresh and access token pair for a user, carrying the user's company and token family."""
    # The token's record may be written only in its user's scope.
    with acting_as(user, reason=PLATFORM_SIGN_IN):
        refresh = ScopedRefreshToken.for_user(user)
    refresh[FAMILY_CLAIM] = family or uuid.uuid4().hex
    refresh[COMPANY_CLAIM] = company_claim_for(user)
    refresh["role"] = user.role
    return token_pair(refresh)


def token_pair(refresh: ScopedRefreshToken) -> dict:
    """The login response body for a refresh token and the access token derived from it."""
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    return {
        "access_token": str(refresh.access_token),
        "refresh_token": str(refresh),
        "token_type": "Bearer",
        "expires_in": int(lifetime.total_seconds()),
    }


def _revoked_key(jti: str) -> str:
    return f"auth:revoked-access:{jti}"


def _revoked_family_key(family: str) -> str:
    return f"auth:revoked-family:{family}"


def _refuse_until_expiry(key: str, token) -> None:
    # Kept only while the token could still be used: an expired one is refused by its signature check.
    remaining = int(token["exp"] - datetime.now(tz=UTC).timestamp())
    if remaining > 0:
        caches["revocations"].set(key, True, timeout=remaining)


def revoke_access_token(token) -> None:
    """Refuse an access token from now until it would have expired (used on logout)."""
    _refuse_until_expiry(_revoked_key(token["jti"]), token)


def revoke_family(refresh) -> None:
    """Refuse every access token of a refresh token's sign-in until the refresh token would expire."""
    if refresh.get(FAMILY_CLAIM):
        _refuse_until_expiry(_revoked_family_key(refresh[FAMILY_CLAIM]), refresh)


def is_revoked(token) -> bool:
    """Whether sign-out revoked this access token, or the sign-in it comes from."""
    keys = [_revoked_key(token.get("jti", ""))]
    if token.get(FAMILY_CLAIM):
        keys.append(_revoked_family_key(token[FAMILY_CLAIM]))
    return any(caches["revocations"].get_many(keys).values())


class TenantJWTAuthentication(JWTAuthentication):
    """Bearer JWT authentication that refuses tokens whose company no longer matches the user's."""

    def authenticate(self, request):
        # The middleware authenticates first to set the tenant context; reuse its verdict.
        django_request = getattr(request, "_request", request)
        cached = getattr(django_request, _RESULT_ATTR, _NOT_TRIED)
        if cached is _NOT_TRIED:
            try:
                cached = super().authenticate(request)
            except (AuthenticationFailed, TokenError) as error:
                cached = error
            setattr(django_request, _RESULT_ATTR, cached)
        if isinstance(cached, Exception):
            raise cached
        return cached

    def get_validated_token(self, raw_token):
        token = super().get_validated_token(raw_token)
        if is_revoked(token):
            raise AuthenticationFailed(_("This token was revoked by signing out."), code="token_revoked")
        return token

    def get_user(self, validated_token):
        user = user_of_claims(validated_token)
        if user is None:
            raise AuthenticationFailed(_("This token's user no longer exists."), code="user_not_found")
        check_user_may_hold_token(user, validated_token)
        return user
