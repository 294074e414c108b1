"""Who in a company may do what: one rule per kind of record, used by the API and the admin alike.

A tenant model names its rule in `role_rule`; `TenantViewSet` and `TenantModelAdmin` refuse to work
for a model that names none, so a new resource cannot ship without deciding. The roles are the
company's owner, admin and member; a platform super admin acting inside a company may do what an
owner may.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured


class Access(enum.Enum):
    READ = "read"
    CREATE = "create"
    CHANGE = "change"
    DELETE = "delete"
    RESTORE = "restore"


class Who(enum.Enum):
    EVERYONE = "everyone in the company"
    OWNER_OF_RECORD = "owners and admins, and the member who owns or created the record"
    MANAGERS = "owners and admins"


# The columns that name the person a record belongs to: its owner, or the user who created it.
OWNERSHIP_COLUMNS = ("owner_id", "user_id")


@dataclass(frozen=True)
class RoleRule:
    """Who may read, create, change and delete one kind of record, and list and restore deleted ones."""

    name: str
    read: Who
    create: Who
    change: Who
    delete: Who
    # The trash is the company's managers' for every kind of record: what one member deleted,
    # another could otherwise bring back, or read after it was taken away.
    restore: Who = Who.MANAGERS

    def who(self, access: Access) -> Who:
        return getattr(self, access.value)

    def allows(self, user, access: Access, record=None) -> bool:
        """Whether `user` may have `access`; for a record-level rule without a record, to some record."""
        if user is None or not user.is_authenticated:
            return False
        who = self.who(access)
        if who is Who.EVERYONE or user.can_manage_company:
            return True
        if who is Who.MANAGERS:
            return False
        return record is None or owns(user, record)


def owns(user, record) -> bool:
    """Whether the record's owner or its creator is this user."""
    return any(getattr(record, column, None) == user.pk for column in OWNERSHIP_COLUMNS)


RECORDS = RoleRule(
    "records",
    read=Who.EVERYONE,
    create=Who.EVERYONE,
    change=Who.OWNER_OF_RECORD,
    delete=Who.OWNER_OF_RECORD,
)
COMPANY_SETTINGS = RoleRule(
    "company settings", read=Who.EVERYONE, create=Who.MANAGERS, change=Who.MANAGERS, delete=Who.MANAGERS
)
# A record only its own user ever sees (the queryset narrows to them): nothing more to refuse.
PERSONAL = RoleRule(
    "personal", read=Who.EVERYONE, create=Who.EVERYONE, change=Who.EVERYONE, delete=Who.EVERYONE
)
MANAGERS_ONLY = RoleRule(
    "managers only", read=Who.MANAGERS, create=Who.MANAGERS, change=Who.MANAGERS, delete=Who.MANAGERS
)
RULES = (RECORDS, COMPANY_SETTINGS, PERSONAL, MANAGERS_ONLY)

OWNER = "owner"


def user_change_refusal(actor, target, *, new_role: str | None = None) -> str:
    """Why `actor` may not give `target` a role or deactivate them, or "" when they may.

    Owners and admins manage their company's users; an admin neither makes an owner nor changes or
    deactivates one. Whether the company keeps an owner is a rule about every owner, checked by the
    service that holds their rows locked.
    """
    if not actor.can_manage_company:
        return "Only owners and admins may change the company's users."
    if actor.is_platform_admin or actor.role == OWNER:
        return ""
    if target is not None and target.role == OWNER:
        return "Only an owner may change or deactivate an owner."
    if new_role == OWNER:
        return "Only an owner may make a user an owner."
    return ""


def rule_of(model) -> RoleRule:
    """The role rule a model names; a model that names none is a configuration error."""
    rule = getattr(model, "role_rule", None)
    if not isinstance(rule, RoleRule):
        raise ImproperlyConfigured(
            f"{model.__name__} names no role rule: set `role_rule` to one of tenancy.roles.RULES."
        )
    return rule
