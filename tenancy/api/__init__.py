"""The tenant API base classes, re-exported for domain apps and settings."""

from .base import (
    CurrentUserOnCreate,
    SingleCompanyWritesMixin,
    TenantModelSerializer,
    TenantRelatedField,
    TenantViewSet,
    exception_handler,
)

__all__ = [
    "CurrentUserOnCreate",
    "SingleCompanyWritesMixin",
    "TenantModelSerializer",
    "TenantRelatedField",
    "TenantViewSet",
    "exception_handler",
]
