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
from .strict import NON_BLANK_ONE_LINE_PATTERN, OneLineTextField, StrictJsonTypesMixin, TenantSerializer

__all__ = [
    "NON_BLANK_ONE_LINE_PATTERN",
    "BadRequest",
    "Conflict",
    "CurrentUserOnCreate",
    "OneLineTextField",
    "SingleCompanyWritesMixin",
    "StrictJsonTypesMixin",
    "TenantModelSerializer",
    "TenantRelatedField",
    "TenantSerializer",
    "TenantViewSet",
    "as_api_error",
    "exception_handler",
]
