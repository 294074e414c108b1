"""The querysets a writable relation or an admin choice may offer: the current company's rows."""

from django.contrib.auth import get_user_model

from .context import current_scope


def scoped_choices(model):
    """Rows of `model` that the current context may reference; nothing when no context is set."""
    scope = current_scope()
    user_model = get_user_model()
    if model is user_model:
        users = user_model._default_manager.filter(is_active=True)
        if scope is None:
            return users.none()
        if scope.company_id is None:
            return users.filter(company__isnull=False)
        return users.filter(company_id=scope.company_id)
    if scope is None:
        return model._base_manager.none()
    return model._default_manager.all()
