"""The audit log of access beyond one company's own scope.

An entry's `reason` is a fixed text naming the kind of access (a constant below, or a platform
job's own fixed wording), never text taken from a request: the request's method, path and address
are kept, truncated, in their own columns.
"""

import logging
from contextlib import nullcontext

from .context import company_context
from .models import AuditLog

logger = logging.getLogger("tenancy.audit")

SUPER_ADMIN_REQUEST = "super admin request"
PLATFORM_SIGN_IN = "platform user signs in, refreshes or signs out"
IDENTITIES_DIFFER = "refused: a session and a bearer token of two different users"


def client_ip(request) -> str | None:
    """The caller's address as the server saw it."""
    return request.META.get("REMOTE_ADDR") if request is not None else None


def record_access(*, action: str, reason: str, actor=None, company_id=None, request=None) -> None:
    """Write one audit entry for a cross-company access, before the access happens."""
    actor = actor if getattr(actor, "is_authenticated", False) else None
    entry = AuditLog(
        action=action,
        reason=reason[:300],
        actor=actor,
        actor_email=actor.email if actor is not None else "",
        company_id=company_id,
        method=(request.method or "")[:10] if request is not None else "",
        path=request.get_full_path()[:500] if request is not None else "",
        ip_address=client_ip(request),
    )
    # No RETURNING: PostgreSQL would check the new row against the read policy, and an entry
    # naming no company (written before a company is known) is readable only across all companies.
    fields = [field for field in AuditLog._meta.concrete_fields if not field.primary_key]
    # An entry naming a company is written inside that company's scope: the policy lets no other
    # scope name it, so SQL injected into one company's request cannot plant entries in another's log.
    with company_context(company_id) if company_id is not None else nullcontext():
        AuditLog._base_manager._insert([entry], fields=fields, returning_fields=None, using="default")
    logger.info(
        "cross-company access: %s by %s (company %s): %s",
        action,
        entry.actor_email or "platform",
        company_id,
        reason,
    )
