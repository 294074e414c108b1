"""Writes of the tenancy core: creating companies and their first users."""

from django.db import transaction
from django.utils.text import slugify

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
    """The active owners and admins of the current company, who hear about unowned events."""
    from .context import require_company_id

    return User.objects.filter(
        company_id=require_company_id(), is_active=True, role__in=[User.Role.OWNER, User.Role.ADMIN]
    )
