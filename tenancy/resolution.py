"""Finding which company owns a record from a key that arrives without one (webhooks, public links)."""

from .context import all_companies


def company_owning(model, *, reason: str, request=None, **unique_lookup):
    """The company id of the one live row matching a unique key, or None; audited as a cross-company read.

    Inbound webhooks and public links arrive with no company: this is the single, audited place
    where such a key (a phone number, a signing token) is resolved to the company that owns it.
    """
    with all_companies(reason=reason, request=request):
        rows = list(model._default_manager.filter(**unique_lookup).values_list("company_id", flat=True)[:2])
    return rows[0] if len(rows) == 1 else None
