"""Companies (the tenants), users, the audit log, and the base of every tenant model."""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.phones import PhoneNumberField

from .context import NO_CONTEXT_HELP, acting_as, all_companies, current_scope
from .exceptions import CrossTenantWrite, NoTenantContext
from .managers import (
    ReadsInScopeQuerySet,
    TenantManager,
    UserQuerySet,
    stored_references,
    verify_same_company,
)
from .roles import MANAGERS_ONLY


class Company(models.Model):
    """A customer organisation: the tenant whose data is isolated from every other."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReadsInScopeQuerySet.as_manager()

    class Meta:
        db_table = "companies"
        ordering = ["name"]
        verbose_name_plural = "companies"

    def __str__(self) -> str:
        return self.name


CREATE_SUPERUSER = "createsuperuser: a new platform super admin"
REHASH_AT_SIGN_IN = "sign-in: a platform user's password hash upgraded"


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    """Creates company users and platform super admins."""

    use_in_migrations = True

    def create_user(self, email, password=None, *, company=None, role="member", **extra):
        """Create a user of a company."""
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email).lower(), company=company, role=role, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        """Create a platform super admin, who belongs to no company."""
        extra.update(is_staff=True, is_superuser=True, company=None, role=User.Role.OWNER)
        # Only the all-companies scope may write a platform user (row-level security on `users`).
        scope = current_scope()
        if scope is not None and scope.spans_all_companies:
            return self.create_user(email, password, **extra)
        with all_companies(reason=CREATE_SUPERUSER):
            return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email; a company user, or a platform super admin with none."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    phone = PhoneNumberField(
        blank=True,
        help_text="Where inbound calls to the user's numbers ring, and click-to-call calls first.",
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the admin site.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        db_table = "users"
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(company__isnull=False, is_superuser=False)
                    | models.Q(company__isnull=True, is_superuser=True)
                ),
                name="user_has_company_unless_platform_super_admin",
                violation_error_message=(
                    "A user belongs to a company, unless it is a platform super admin, who belongs to none."
                ),
            ),
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ignoring_case"),
        ]
        # The company's users in the order /api/users lists them.
        indexes = [models.Index(fields=["company", "email"], name="users_company_email")]

    def __str__(self) -> str:
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()

    def validate_unique(self, exclude=None):
        super().validate_unique(exclude=exclude)
        # A company's scope shows only its own users, so Django's check misses another company's.
        from .identity import email_taken  # cycle: tenancy.identity reads this model

        if (
            (exclude is None or "email" not in exclude)
            and self.email
            and email_taken(self.email, except_user_id=self.pk)
        ):
            raise ValidationError({"email": "A user with this email address already exists."})

    def check_password(self, raw_password) -> bool:
        """Django's check; a hash upgraded to the current hasher is saved in the user's own scope."""

        def save_upgraded(raw):
            self.set_password(raw)
            self._password = None
            with acting_as(self, reason=REHASH_AT_SIGN_IN):
                self.save(update_fields=["password"])

        return check_password(raw_password, self.password, save_upgraded)

    @property
    def is_platform_admin(self) -> bool:
        """A super admin of the platform: no company, support access to every company."""
        return self.is_superuser and self.company_id is None

    @property
    def can_manage_company(self) -> bool:
        """Owners and admins manage their company's users and settings."""
        return self.is_platform_admin or self.role in {self.Role.OWNER, self.Role.ADMIN}


class AuditLog(models.Model):
    """One access beyond a single company's own scope (super admin support, a platform job), or a restore."""

    role_rule = MANAGERS_ONLY

    class Action(models.TextChoices):
        ALL_COMPANIES = "all_companies", "Read across all companies"
        COMPANY_ACCESS = "company_access", "Super admin acted inside a company"
        IDENTITIES_DIFFER = "identities_differ", "Refused: a session and a bearer token of two users"
        RESTORE = "restore", "A deleted record restored"

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    # Kept as written: a company's scope cannot read a platform user's row, and a user may be deleted.
    actor_email = models.EmailField(blank=True, default="")
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    reason = models.CharField(max_length=300)
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=500, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        db_table = "audit_log"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_email or 'platform'}: {self.reason}"


class TenantModel(models.Model):
    """Base of every model owned by a company; queries and writes stay inside the current company."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    is_deleted = models.BooleanField(default=False)

    objects = TenantManager()

    _is_tenant_model = True

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def save(self, *args, **kwargs):
        self._assign_company()
        verify_same_company([self])
        super().save(*args, **kwargs)
        self._company_id_from_db = self.company_id
        self._stored_references = stored_references(self)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._company_id_from_db = instance.__dict__.get("company_id")
        instance._stored_references = stored_references(instance)
        return instance

    def _assign_company(self) -> None:
        """Give a new row the current company, and refuse a row of another company."""
        scope = current_scope()
        if scope is None:
            raise NoTenantContext(NO_CONTEXT_HELP)
        if self.company_id is not None:
            self.company_id = self._meta.get_field("company").target_field.to_python(self.company_id)
        if self.company_id is None:
            if scope.company_id is None:
                raise NoTenantContext(
                    f"{type(self).__name__} has no company, and the context spans all companies "
                    f"({scope.reason}). Set the company explicitly, or act inside "
                    "`company_context(company)` (X-Company-ID for super admins)."
                )
            self.company_id = scope.company_id
        elif scope.company_id is not None and self.company_id != scope.company_id:
            raise CrossTenantWrite(
                f"Refusing to save {type(self).__name__} {self.pk} of company {self.company_id} "
                f"inside company {scope.company_id}."
            )
        loaded = getattr(self, "_company_id_from_db", None)
        if loaded is not None and loaded != self.company_id:
            raise CrossTenantWrite(
                f"Refusing to move {type(self).__name__} {self.pk} from company {loaded} "
                f"to company {self.company_id}; records never change company."
            )

    def clean(self):
        super().clean()
        try:
            self._assign_company()
            verify_same_company([self])
        except (NoTenantContext, CrossTenantWrite) as error:
            raise ValidationError(str(error)) from error

    def delete(self, *args, **kwargs):
        """Hard delete, refused for a row of another company (the API and admin soft-delete)."""
        self._assign_company()
        return super().delete(*args, **kwargs)

    def soft_delete(self) -> None:
        """Hide the row from every scoped query while keeping it for audit and undo."""
        self.is_deleted = True
        self.save(update_fields=["is_deleted", "updated_at"])
