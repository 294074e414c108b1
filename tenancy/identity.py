"""Who a credential names, read before any company is known: a password sign-in, a bearer token, a session.

Row-level security shows the rows of `users` and `companies` only inside their company's scope, so
SQL run on the application's connection reads no other company's password hashes or names. The
look-ups that must run before a company is known (the e-mail of a sign-in, the user id of a token or
a session cookie) read exactly one user, with their company, through `user_before_scope`.
"""

import uuid

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db.models.functions import Lower

from .models import User
from .resolution import looking_across_companies_unaudited

SIGN_IN_LOOKUP = "sign-in: which user this credential names"


def user_before_scope(*, pk=None, email: str | None = None) -> User | None:
    """The one user with this id or e-mail, with their company, or None; unaudited: nobody signed in yet."""
    if pk is not None:
        try:
            condition = {"pk": uuid.UUID(str(pk))}
        except ValueError:
            return None
    elif email:
        # Compared in lower case, as the unique index on lower(email) is: an address imported in
        # mixed case is still found, through that index.
        condition = {"address": email.strip().lower()}
    else:
        return None
    with looking_across_companies_unaudited(SIGN_IN_LOOKUP):
        users = User.objects.select_related("company").alias(address=Lower("email"))
        return users.filter(**condition).first()


def email_taken(email: str, *, except_user_id=None) -> bool:
    """Whether any user of any company has this e-mail address (addresses are unique platform-wide)."""
    user = user_before_scope(email=email)
    return user is not None and user.pk != except_user_id


class TenantModelBackend(ModelBackend):
    """Django's password and session authentication, finding the user before any company is known."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        user = user_before_scope(email=username)
        if user is None:
            # Hash anyway, so an unknown address takes as long as a wrong password.
            User().set_password(password)
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id):
        try:
            user = user_before_scope(pk=user_id)
        except ValidationError:
            return None
        return user if user is not None and self.user_can_authenticate(user) else None
