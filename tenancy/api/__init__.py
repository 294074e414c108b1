"""The tenant API base classes, re-exported for domain apps and settings."""

from .base import (
    CurrentUserOnCreate,
    FollowsRoleRule,
    RoleRuleMixin,
    SingleCompanyWritesMixin,
    TenantModelSerializer,
    TenantRelatedField,
    TenantViewSet,
    exception_handler,
)

__all__ = [
    "CurrentUserOnCreate",
    "FollowsRoleRule",
    "RoleRuleMixin",
    "SingleCompanyWritesMixin",
    "TenantModelSerializer",
    "TenantRelatedField",
    "TenantViewSet",
    "exception_handler",
]
