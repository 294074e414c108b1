"""The API toolkit every app's views are built with: strict types, error answers, the OpenAPI hooks."""

from .errors import BadRequest, Conflict, DetailSerializer, as_api_error
from .strict import NON_BLANK_ONE_LINE_PATTERN, OneLineTextField, StrictJsonTypesMixin, StrictSerializer

__all__ = [
    "NON_BLANK_ONE_LINE_PATTERN",
    "BadRequest",
    "Conflict",
    "DetailSerializer",
    "OneLineTextField",
    "StrictJsonTypesMixin",
    "StrictSerializer",
    "as_api_error",
]
