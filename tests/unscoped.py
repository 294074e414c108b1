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
