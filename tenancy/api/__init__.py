"""The tenant API base classes, re-exported for domain apps and settings."""

from .base import (
    BadRequest,
    TenantModelSerializer,
    TenantRelatedField,
    TenantViewSet,
    exception_handler,
)

__all__ = [
    "BadRequest",
    "TenantModelSerializer",
    "TenantRelatedField",
    "TenantViewSet",
    "exception_handler",
]
