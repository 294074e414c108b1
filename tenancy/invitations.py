"""Invitations: a single-use, expiring link that lets a new user of a company choose a password.

The token is signed (django.core.signing) and names the user and a fingerprint of their stored
password. The invitee has no usable password until they accept; setting one changes the stored
hash, so the link works once. A new invitation gives the user a fresh unusable password, which
retires every earlier link.
"""

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.utils.crypto import salted_hmac

INVITE_SALT = "tenancy.invitations"


def _password_fingerprint(user) -> str:
    return salted_hmac(INVITE_SALT, user.password).hexdigest()[:32]


def invite_token(user) -> str:
    """A signed token that lets `user` set their password once, until INVITE_LINK_DAYS have passed."""
    return signing.dumps({"user": str(user.pk), "state": _password_fingerprint(user)}, salt=INVITE_SALT)


def user_id_of_token(token: str) -> str | None:
    """The user id a valid, unexpired token names, or None."""
    try:
        claims = signing.loads(token, salt=INVITE_SALT, max_age=settings.INVITE_LINK_DAYS * 24 * 3600)
    except signing.BadSignature:
        return None
    return claims.get("user") if isinstance(claims, dict) else None


def token_still_open(user, token: str) -> bool:
    """Whether the token was made for the user's current, never-used password state."""
    claims = signing.loads(token, salt=INVITE_SALT)
    return not user.has_usable_password() and claims.get("state") == _password_fingerprint(user)


def invite_url(token: str) -> str:
    """Where the invitee chooses a password: the single-page app's page, carrying the token."""
    return settings.INVITE_ACCEPT_URL.format(token=token)


def invitation_email(user, token: str, *, invited_by) -> EmailMessage:
    """The e-mail that carries the invitation link."""
    company = user.company
    inviter = invited_by.full_name or invited_by.email
    lines = [
        f"Hello {user.full_name or user.email},",
        "",
        f"{inviter} invites you to {company.name}'s CRM.",
        "Choose your password here (the link is yours alone and works once):",
        invite_url(token),
        "",
        f"The link works for {settings.INVITE_LINK_DAYS} days.",
        "If you did not expect this invitation, you can ignore this e-mail.",
    ]
    return EmailMessage(
        subject=f"{company.name}: your invitation to the CRM"[:250],
        body="\n".join(lines),
        to=[user.email],
        reply_to=[invited_by.email] if invited_by.email else None,
    )
