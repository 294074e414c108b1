"""Finding the company of a key that arrives without one: the public doors (webhooks, public links).

A Twilio number, a signing token's hash or a workflow id names a row of some company before
anything is authenticated. `company_for_key` is the one place such a key becomes a company id: it
reads one key column, returns the owning company's id and nothing else, and writes no audit row,
since nobody has been authenticated yet (the audit log records who did what after that). The door
then checks its signature or token inside `company_context(company_id)`.

Its cross-company read is `looking_across_companies_unaudited`, which the sign-in look-ups of
tenancy.identity share, and the middleware's turning of a super admin's X-Company-ID slug into a
company id (the request's audit entry then names that company): the only unaudited widening of
the scope, and one the database grants to application code alone, since SQL on the connection
cannot seal a scope.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from core.text import NUL

from .audit import record_access
from .context import TenantScope, _scope
from .models import AuditLog

# Not written anywhere: it names the scope for anyone inspecting it while the lookup runs.
LOOKUP_SCOPE_REASON = "public door: which company owns this key"
# Every key of ours is short; longer text, or text PostgreSQL cannot hold, names no row.
MAX_KEY_LENGTH = 255


def company_for_key(model, field: str, value) -> uuid.UUID | None:
    """The company id of the one row of `model`'s default manager whose `field` is `value`; unaudited."""
    if value in (None, "") or "__" in field:
        return None
    if isinstance(value, str) and (len(value) > MAX_KEY_LENGTH or NUL in value):
        return None
    model._meta.get_field(field)  # a column of the model, never a lookup across relations
    owners = _owning_company_ids(model, field, value)
    return owners[0] if len(owners) == 1 else None


def audited_company_for_key(model, field: str, value, *, reason: str, actor=None) -> uuid.UUID | None:
    """`company_for_key` for a signed-in caller (e.g. is a number taken), audited with a fixed reason."""
    record_access(action=AuditLog.Action.ALL_COMPANIES, reason=reason, actor=actor)
    return company_for_key(model, field, value)


def _owning_company_ids(model, field: str, value) -> list[uuid.UUID]:
    """At most two company ids of rows matching the key, read across companies and then forgotten."""
    with looking_across_companies_unaudited(LOOKUP_SCOPE_REASON):
        return list(model._default_manager.filter(**{field: value}).values_list("company_id", flat=True)[:2])


@contextmanager
def looking_across_companies_unaudited(reason: str) -> Iterator[None]:
    """Every company's rows for the look-up inside the block, unaudited: only before anyone is authenticated.

    The tenant scope is widened for the block alone, and its savepoint is rolled back, so neither the
    context nor the transaction's row-level security setting spans all companies afterwards. The block
    must read one key's rows and evaluate them inside; SQL run on the connection can never widen its
    own scope (tenancy.sealed_scope), only this application code can.
    """
    token = _scope.set(TenantScope(company_id=None, spans_all_companies=True, reason=reason))
    try:
        with transaction.atomic():
            yield
            transaction.set_rollback(True)
    finally:
        _scope.reset(token)
