"""The current company of this request, task or command, kept on a ContextVar.

A ContextVar (never threading.local) follows each thread and each asyncio task on its own,
so two concurrent requests can never see each other's company.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from .exceptions import NoTenantContext

NO_CONTEXT_HELP = (
    "No company is set in the tenant context. Wrap the code in "
    "`tenancy.context.company_context(company)` for one company, or in "
    "`tenancy.context.all_companies(reason=...)` for an audited platform-wide read. "
    "Requests get the context from TenantMiddleware, Celery tasks from TenantTask, "
    "and management commands must set it themselves."
)


@dataclass(frozen=True)
class TenantScope:
    """What the current code may see: one company, or every company for a stated reason."""

    company_id: uuid.UUID | None
    spans_all_companies: bool = False
    reason: str = ""


_scope: ContextVar[TenantScope | None] = ContextVar("tenant_scope", default=None)


def current_scope() -> TenantScope | None:
    """Return the scope in force, or None when no context is set."""
    return _scope.get()


def current_company_id() -> uuid.UUID | None:
    """Return the current company id, or None in an all-companies scope; raise with no context."""
    scope = _scope.get()
    if scope is None:
        raise NoTenantContext(NO_CONTEXT_HELP)
    return scope.company_id


def require_company_id() -> uuid.UUID:
    """Return the current company id; raise unless exactly one company is in force."""
    company_id = current_company_id()
    if company_id is None:
        raise NoTenantContext(
            "This action needs one company, but the context spans all companies "
            f"({_scope.get().reason}). Super admins select one with the X-Company-ID header; "
            "code selects one with `company_context(company)`."
        )
    return company_id


def _as_company_id(company) -> uuid.UUID:
    if isinstance(company, uuid.UUID):
        return company
    if isinstance(company, str):
        return uuid.UUID(company)
    company_id = getattr(company, "pk", None)
    if company_id is None:
        raise TypeError(f"Expected a Company, a UUID or a UUID string, got {company!r}.")
    return company_id


@contextmanager
def company_context(company) -> Iterator[TenantScope]:
    """Act inside one company until the block ends, even when it raises."""
    scope = TenantScope(company_id=_as_company_id(company))
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


@contextmanager
def all_companies(*, reason: str, actor=None, request=None) -> Iterator[TenantScope]:
    """Read across every company inside an audited block; the reason is written to the audit log."""
    if not reason or not reason.strip():
        raise ValueError("all_companies() needs a reason saying why every company is read.")
    from .audit import record_access  # cycle: tenancy.audit needs tenancy.models, which import this module

    record_access(action="all_companies", reason=reason, actor=actor, company_id=None, request=request)
    token = _scope.set(TenantScope(company_id=None, spans_all_companies=True, reason=reason))
    try:
        yield _scope.get()
    finally:
        _scope.reset(token)


@contextmanager
def acting_as(user, *, reason: str, request=None) -> Iterator[TenantScope]:
    """Act as `user` where no request scope is theirs yet: their company, or audited for a platform user."""
    scope = current_scope()
    if user.company_id is not None:
        if scope is not None and scope.company_id == user.company_id:
            yield scope
            return
        with company_context(user.company_id) as scope:
            yield scope
    else:
        if scope is not None and scope.spans_all_companies:
            yield scope
            return
        with all_companies(reason=reason, actor=user, request=request) as scope:
            yield scope


@contextmanager
def no_company() -> Iterator[None]:
    """Run a block with no tenant context, so tenant queries inside it fail closed."""
    token = _scope.set(None)
    try:
        yield
    finally:
        _scope.reset(token)
