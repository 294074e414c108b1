"""Sets the tenant context for each request from its session or bearer token, and clears it after."""

import logging
import re
import uuid
from contextlib import AbstractContextManager

from django.db import InterfaceError, OperationalError, transaction
from django.http import JsonResponse
from rest_framework.exceptions import APIException
from rest_framework_simplejwt.exceptions import TokenError

from .audit import IDENTITIES_DIFFER, SUPER_ADMIN_REQUEST, record_access
from .auth import TenantJWTAuthentication
from .context import all_companies, company_context, no_company
from .models import AuditLog, Company
from .resolution import looking_across_companies_unaudited

logger = logging.getLogger("tenancy.middleware")

COMPANY_HEADER = "HTTP_X_COMPANY_ID"
API_PATH_PREFIX = "/api/"
# Errors of the database connection rather than of the query: the server restarted, went away, or
# refused the connection. A retry in a few seconds may succeed, so they answer 503, not 500.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


class CompanyHeaderRefused(Exception):
    """The X-Company-ID header names a company this user may not act in."""

    def __init__(self, detail: str, status: int):
        super().__init__(detail)
        self.detail = detail
        self.status = status


class IdentitiesDiffer(Exception):
    """A request carries a session of one user and a bearer token of another."""

    def __init__(self, session_user, bearer_user):
        super().__init__(f"session user {session_user.pk} and bearer user {bearer_user.pk} differ")
        self.session_user = session_user
        self.bearer_user = bearer_user


def bearer_user(request):
    """The user of a valid bearer token, or None (no token, or one DRF will answer 401 for)."""
    try:
        result = TenantJWTAuthentication().authenticate(request)
    except (APIException, TokenError):
        # DRF answers the request with 401 when the view runs; no company is set meanwhile.
        return None
    return result[0] if result is not None else None


def sends_bearer_token(request) -> bool:
    """Whether the request's Authorization header carries a bearer token, valid or not."""
    authentication = TenantJWTAuthentication()
    header = authentication.get_header(request)
    if header is None:
        return False
    try:
        return authentication.get_raw_token(header) is not None
    except APIException:
        return True  # "Bearer" with no token, or with spaces in it: a bearer token, a malformed one


def session_user(request):
    """The user signed in through the session cookie, or None."""
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def request_user(request):
    """The one identity that decides a request's company and permissions.

    The API (`/api/`) takes a bearer token when the request sends one and the session otherwise;
    every other path (the admin, the signing page) knows only the session, as Django's own views
    check permissions on it. A session and a bearer token of two different users are refused on
    every path, so no request can run with one user's powers inside another user's company.
    """
    from_session = session_user(request)
    has_bearer = sends_bearer_token(request)
    from_bearer = bearer_user(request) if has_bearer else None
    if from_session is not None and from_bearer is not None and from_session.pk != from_bearer.pk:
        raise IdentitiesDiffer(from_session, from_bearer)
    if request.path_info.startswith(API_PATH_PREFIX) and has_bearer:
        return from_bearer
    return from_session


def refuse_two_identities(request, conflict: IdentitiesDiffer) -> JsonResponse:
    """400 for a request with two identities, written to the audit log with both users."""
    record_access(
        action=AuditLog.Action.IDENTITIES_DIFFER,
        # Both users are known to the server (the token was verified); nothing of the request is stored.
        reason=f"{IDENTITIES_DIFFER} (bearer user {conflict.bearer_user.pk})",
        actor=conflict.session_user,
        company_id=conflict.session_user.company_id,
        request=request,
    )
    logger.warning("refused %s %s: %s", request.method, request.path, conflict)
    return JsonResponse(
        {
            "detail": "This request carries a session and a bearer token of two different users; "
            "send one of them."
        },
        status=400,
    )


# A company's slug as Company.slug stores it (Django's slug characters, at most 80).
SLUG_PATTERN = re.compile(r"[-a-zA-Z0-9_]{1,80}")
BAD_COMPANY_HEADER = "X-Company-ID must be a company id (a UUID) or a company's slug."
SLUG_LOOKUP = "super admin request: which company this X-Company-ID slug names"


def requested_company(request) -> uuid.UUID | str | None:
    """What the X-Company-ID header names: a company id, a company's slug, or nothing."""
    raw = request.META.get(COMPANY_HEADER, "").strip()
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        pass
    if SLUG_PATTERN.fullmatch(raw) is None:
        raise CompanyHeaderRefused(BAD_COMPANY_HEADER, 400)
    return raw


def existing_company_id(wanted: uuid.UUID | str) -> uuid.UUID | None:
    """The id of the company a super admin's header names by id or slug, or None if there is none."""
    if isinstance(wanted, uuid.UUID):
        # Row-level security shows a company's row inside its own scope alone.
        with company_context(wanted):
            return wanted if Company.objects.filter(pk=wanted).exists() else None
    # A slug names no scope to look in; the read is followed by the request's COMPANY_ACCESS entry.
    with looking_across_companies_unaudited(SLUG_LOOKUP):
        return Company.objects.filter(slug=wanted).values_list("pk", flat=True).first()


def names_own_company(wanted: uuid.UUID | str, user) -> bool:
    """Whether a company user's header names their own company, by id or by slug."""
    return wanted == (user.company_id if isinstance(wanted, uuid.UUID) else user.company.slug)


def scope_for_request(request, user) -> AbstractContextManager:
    """The tenant context a request runs in."""
    if user is None:
        return no_company()
    wanted = requested_company(request)
    if user.is_platform_admin:
        if wanted is None:
            return all_companies(reason=SUPER_ADMIN_REQUEST, actor=user, request=request)
        wanted = existing_company_id(wanted)
        if wanted is None:
            raise CompanyHeaderRefused("X-Company-ID names no existing company.", 400)
        record_access(
            action=AuditLog.Action.COMPANY_ACCESS,
            reason=SUPER_ADMIN_REQUEST,
            actor=user,
            company_id=wanted,
            request=request,
        )
        return company_context(wanted)
    if user.company_id is None:
        return no_company()
    if wanted is not None and not names_own_company(wanted, user):
        raise CompanyHeaderRefused(
            "X-Company-ID names a company you do not belong to; only platform super admins "
            "may act in another company.",
            403,
        )
    if not user.company.is_active:
        raise CompanyHeaderRefused("This company's account is deactivated.", 403)
    return company_context(user.company_id)


def database_unavailable(request, error: Exception) -> JsonResponse:
    """The answer to a request that lost its database connection: 503 with Retry-After."""
    logger.warning("database unavailable for %s %s: %s", request.method, request.path, error)
    response = JsonResponse(
        {"detail": "The database is unavailable right now; try again in a few seconds."},
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class TenantMiddleware:
    """Runs every request inside its user's company and clears the context afterwards, even on error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self._in_company(request)
        except DATABASE_UNAVAILABLE as error:
            # Lost before the view ran (authentication, BEGIN) or at COMMIT; the transaction is gone.
            return database_unavailable(request, error)

    def process_exception(self, request, exception):
        """A view that lost the database answers 503, and its transaction is rolled back."""
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        if transaction.get_connection().in_atomic_block:
            transaction.set_rollback(True)
        return database_unavailable(request, exception)

    def _in_company(self, request):
        try:
            user = request_user(request)
        except IdentitiesDiffer as conflict:
            return refuse_two_identities(request, conflict)
        try:
            scope = scope_for_request(request, user)
        except CompanyHeaderRefused as refusal:
            return JsonResponse({"detail": refusal.detail}, status=refusal.status)
        request.tenant_user = user
        # One transaction per request carries the row-level security setting (tenancy.rls): one
        # set_config per request instead of a short transaction around every statement. Unlike
        # ATOMIC_REQUESTS, an answered 4xx still commits what the view chose to keep.
        with scope, transaction.atomic():
            return self.get_response(request)
