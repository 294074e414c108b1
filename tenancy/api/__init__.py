"""The tenant API base classes, re-exported for domain apps and settings."""

from .base import (
    BadRequest,
    CurrentUserOnCreate,
    SingleCompanyWritesMixin,
    TenantModelSerializer,
    TenantRelatedField,
    TenantViewSet,
    exception_handler,
)

__all__ = [
    "BadRequest",
    "CurrentUserOnCreate",
    "SingleCompanyWritesMixin",
    "TenantModelSerializer",
    "TenantRelatedField",
    "TenantViewSet",
    "exception_handler",
]
