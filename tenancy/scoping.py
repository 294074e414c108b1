"""The querysets a writable relation or an admin choice may offer: the current company's rows."""

from django.contrib.auth import get_user_model

from .context import current_scope


def scoped_choices(model):
    """Rows of `model` that the current context may reference; nothing when no context is set."""
    if current_scope() is None:
        return model._base_manager.none()
    if model is get_user_model():
        return model._default_manager.filter(is_active=True).in_current_company()
    return model._default_manager.all()
