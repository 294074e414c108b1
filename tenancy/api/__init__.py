"""The tenant API base classes, re-exported for domain apps and settings."""

from .base import (
    BadRequest,
    Conflict,
    CurrentUserOnCreate,
    SingleCompanyWritesMixin,
    TenantModelSerializer,
    TenantRelatedField,
    TenantViewSet,
    as_api_error,
    exception_handler,
)
from .strict import StrictJsonTypesMixin, TenantSerializer

__all__ = [
    "BadRequest",
    "Conflict",
    "CurrentUserOnCreate",
    "SingleCompanyWritesMixin",
    "StrictJsonTypesMixin",
    "TenantModelSerializer",
    "TenantRelatedField",
    "TenantSerializer",
    "TenantViewSet",
    "as_api_error",
    "exception_handler",
]
