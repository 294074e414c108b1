"""How a test looks at rows as stored: row-level security shows no row outside a tenant context."""

from contextlib import contextmanager

from tenancy.context import TenantScope, _scope, all_companies

REASON = "test: read the rows as stored"


def unscoped():
    """The audited all-companies context, for a test's look at every company's stored rows."""
    return all_companies(reason=REASON)


def stored(model, pk):
    """The row of `model` with primary key `pk` as the database holds it, deleted or not."""
    with unscoped():
        return model._base_manager.get(pk=pk)


@contextmanager
def as_the_platform_unaudited():
    """The all-companies scope without its audit entry: a test's own set-up and looks, never the code's."""
    token = _scope.set(TenantScope(company_id=None, spans_all_companies=True, reason=REASON))
    try:
        yield
    finally:
        _scope.reset(token)


def audit_entries(**filters) -> list:
    """Every audit entry as stored, oldest first, read without the look itself writing one."""
    from tenancy.models import AuditLog

    with as_the_platform_unaudited():
        return list(AuditLog.objects.select_related("actor", "company").filter(**filters).order_by("id"))


def reload(*instances) -> None:
    """Read each instance's row again as stored: users and companies are invisible outside their scope."""
    with as_the_platform_unaudited():
        for instance in instances:
            instance.refresh_from_db()


def as_stored(read):
    """What `read()` returns with every company's rows visible, unaudited: a test's look at stored rows."""
    with as_the_platform_unaudited():
        result = read()
        # A queryset is read here, where its rows are visible, never later outside the scope.
        return list(result) if hasattr(result, "_fetch_all") else result
