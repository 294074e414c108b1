"""Writes of the tenancy core: creating companies and their first users."""

from django.db import transaction
from django.utils.text import slugify

from .context import require_company_id
from .models import Company, User


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
