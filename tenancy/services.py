"""Writes of the tenancy core: companies, their users, and the invitations that bring users in."""

import logging

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from .context import acting_as, all_companies, company_context, require_company_id
from .identity import email_taken, user_before_scope
from .invitations import invitation_email, invite_token, token_still_open, user_id_of_token
from .models import Company, User
from .roles import user_change_refusal

logger = logging.getLogger("tenancy.services")

ACCEPT_INVITATION = "an invited user chooses their password"


def unique_company_slug(name: str) -> str:
    """A slug for a company name that no other company has."""
    base = slugify(name)[:70] or "company"
    slug, suffix = base, 2
    while Company.objects.filter(slug=slug).exists():
        slug, suffix = f"{base}-{suffix}", suffix + 1
    return slug


@transaction.atomic
def create_company(
    *, name: str, admin_email: str, password: str, admin_name: str = ""
) -> tuple[Company, User]:
    """Create a company with its first owner, who may sign in to the API and the admin."""
    email = admin_email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValueError(f"A user with the email {email} already exists.")
    company = Company.objects.create(name=name.strip(), slug=unique_company_slug(name))
    owner = User.objects.create_user(
        email, password, company=company, role=User.Role.OWNER, is_staff=True, full_name=admin_name
    )
    return company, owner


def company_managers():
    """The active owners and admins of the one company in force, who hear about unowned events."""
    # One company's event never reaches another's managers: an all-companies scope is refused here.
    require_company_id()
    return User.objects.in_current_company().filter(
        is_active=True, role__in=[User.Role.OWNER, User.Role.ADMIN]
    )


class UserChangeRefused(Exception):
    """A change of a company's users that the role rules forbid (a 403)."""


class UserChangeInvalid(Exception):
    """A change of a company's users that would leave it broken (a 400 on `field`)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _refuse_unless_allowed(actor, target, *, new_role: str | None = None) -> None:
    refusal = user_change_refusal(actor, target, new_role=new_role)
    if refusal:
        raise UserChangeRefused(refusal)


def _send_invitation(user, *, invited_by) -> None:
    token = invite_token(user)
    message = invitation_email(user, token, invited_by=invited_by)
    # After commit: an invitation rolled back sends nothing; a failed send is logged and can be re-sent.
    transaction.on_commit(lambda: _deliver(message, user))


def _deliver(message, user) -> None:
    try:
        message.send()
    except Exception:
        logger.warning("invitation to %s was not sent", user.email, exc_info=True)


@transaction.atomic
def invite_user(*, invited_by, email: str, role: str = User.Role.MEMBER, full_name: str = "") -> User:
    """Create a user of the current company without a password and e-mail them a link to choose one."""
    _refuse_unless_allowed(invited_by, None, new_role=role)
    email = User.objects.normalize_email(email).strip().lower()
    if email_taken(email):
        raise UserChangeInvalid("email", "A user with this email address already exists.")
    company = Company.objects.get(pk=require_company_id())
    user = User.objects.create_user(
        email, None, company=company, role=role, full_name=full_name, is_staff=True
    )
    _send_invitation(user, invited_by=invited_by)
    return user


@transaction.atomic
def resend_invitation(user: User, *, invited_by) -> User:
    """A new link for a user who has not chosen a password yet; earlier links stop working."""
    _refuse_unless_allowed(invited_by, user)
    if user.has_usable_password():
        raise UserChangeInvalid("detail", "This user has accepted their invitation already.")
    user.set_unusable_password()
    user.save(update_fields=["password"])
    _send_invitation(user, invited_by=invited_by)
    return user


def _lock_active_owners() -> list:
    """The current company's active owners, locked until the transaction ends."""
    owners = User.objects.in_current_company().filter(role=User.Role.OWNER, is_active=True)
    return list(owners.select_for_update().values_list("pk", flat=True))


@transaction.atomic
def change_user(user: User, *, changed_by, role: str | None = None, is_active: bool | None = None) -> User:
    """Give a user another role or (de)activate them; the company always keeps an active owner."""
    new_role = role if role is not None and role != user.role else None
    _refuse_unless_allowed(changed_by, user, new_role=new_role)
    leaves_owners = user.role == User.Role.OWNER and user.is_active and (new_role or is_active is False)
    if leaves_owners and _lock_active_owners() == [user.pk]:
        field = "is_active" if is_active is False else "role"
        raise UserChangeInvalid(field, "The company's last owner can be neither demoted nor deactivated.")
    fields = []
    if new_role is not None:
        user.role, fields = new_role, [*fields, "role"]
    if is_active is not None and is_active != user.is_active:
        user.is_active, fields = is_active, [*fields, "is_active"]
    if fields:
        user.save(update_fields=fields)
    return user


def accept_invitation(token: str, password: str) -> User:
    """Set the password of the user an open invitation names; raise UserChangeInvalid otherwise."""
    user = user_before_scope(pk=user_id_of_token(token))
    invalid = UserChangeInvalid("token", "This invitation link is invalid, used or expired.")
    if user is None or user.company_id is None or not user.is_active or not user.company.is_active:
        raise invalid
    with acting_as(user, reason=ACCEPT_INVITATION), transaction.atomic():
        locked = (
            User.objects.select_for_update(of=("self",)).select_related("company").filter(pk=user.pk).first()
        )
        if locked is None or not token_still_open(locked, token):
            raise invalid
        try:
            validate_password(password, locked)
        except ValidationError as error:
            raise UserChangeInvalid("password", " ".join(error.messages)) from error
        locked.set_password(password)
        locked.save(update_fields=["password"])
    return locked


CREATE_COMPANY = "super admin creates a company"
CHANGE_COMPANY = "super admin renames, deactivates or reactivates a company"


class CompanyChangeInvalid(UserChangeInvalid):
    """A company that cannot be created or changed as asked (a 400 on `field`)."""


@transaction.atomic
def create_company_with_invitation(
    *, created_by, name: str, owner_email: str, owner_name: str = "", slug: str = ""
):
    """Create a company and invite its first owner by e-mail (a platform super admin's action)."""
    # One transaction: a company whose owner cannot be invited is not kept either.
    with all_companies(reason=CREATE_COMPANY, actor=created_by), transaction.atomic():
        if slug and Company.objects.filter(slug=slug).exists():
            raise CompanyChangeInvalid("slug", "A company with this slug already exists.")
        if email_taken(owner_email):
            raise CompanyChangeInvalid("owner_email", "A user with this email address already exists.")
        company = Company.objects.create(name=name.strip(), slug=slug or unique_company_slug(name))
    with company_context(company), transaction.atomic():
        owner = invite_user(
            invited_by=created_by, email=owner_email, role=User.Role.OWNER, full_name=owner_name
        )
    return company, owner


def change_company(company: Company, *, changed_by, name: str | None = None, is_active: bool | None = None):
    """Rename, deactivate or reactivate a company; a deactivated company's users are refused at once."""
    with all_companies(reason=CHANGE_COMPANY, actor=changed_by), transaction.atomic():
        fields = []
        if name is not None and name.strip() != company.name:
            company.name, fields = name.strip(), [*fields, "name"]
        if is_active is not None and is_active != company.is_active:
            company.is_active, fields = is_active, [*fields, "is_active"]
        if fields:
            company.save(update_fields=[*fields, "updated_at"])
    return company
