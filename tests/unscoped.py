"""How a test looks at rows as stored: row-level security shows no row outside a tenant context."""

from tenancy.context import all_companies

REASON = "test: read the rows as stored"


def unscoped():
    """The audited all-companies context, for a test's look at every company's stored rows."""
    return all_companies(reason=REASON)


def stored(model, pk):
    """The row of `model` with primary key `pk` as the database holds it, deleted or not."""
    with unscoped():
        return model._base_manager.get(pk=pk)


def audit_entries(**filters) -> list:
    """Every audit entry as stored, oldest first, read without the look itself writing one."""
    from tenancy.context import TenantScope, _scope  # the audited door (unscoped) would add an entry
    from tenancy.models import AuditLog

    token = _scope.set(TenantScope(company_id=None, spans_all_companies=True, reason=REASON))
    try:
        return list(AuditLog.objects.filter(**filters).order_by("id"))
    finally:
        _scope.reset(token)
