"""Error answers every API view shares: one JSON body with a `detail`, and 4xx instead of 500."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.db.models import ProtectedError
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..exceptions import StateConflict
from .parsers import RequestBodyTooLarge
from .strict import StrictSerializer

logger = logging.getLogger("core.api")


class BadRequest(APIException):
    """A 400 whose `detail` is one sentence."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"


class Conflict(APIException):
    """A 409: the action does not fit the record's current state."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


# An error answer of one sentence; without a docstring, so the schema component keeps no description.
class DetailSerializer(StrictSerializer):
    detail = serializers.CharField()


def as_api_error(error: DjangoValidationError) -> APIException:
    """A service's refusal as a 4xx: 409 for a state conflict, else 400 per field or one `detail`.

    The exception handler applies it to every ValidationError a view lets through, so views call
    services without wrapping them.
    """
    if isinstance(error, StateConflict):
        return Conflict(" ".join(error.messages))
    if hasattr(error, "error_dict"):
        return ValidationError(error.message_dict)
    return BadRequest(" ".join(error.messages))


def exception_handler(exc, context):
    """DRF errors as JSON with a `detail`, and model or database errors as 4xx instead of 500."""
    if isinstance(exc, DjangoValidationError):
        exc = as_api_error(exc)
    elif isinstance(exc, RequestDataTooBig):
        # Django's form parsing refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE; DRF would answer 500.
        exc = RequestBodyTooLarge()
    elif isinstance(exc, DataError):
        # A value the column cannot hold that validation let through: the caller's input, never a 500.
        logger.error("data error answered 400: %s", exc)
        exc = BadRequest("A value in this request cannot be stored; check its text and numbers.")
    elif isinstance(exc, IntegrityError):
        # A constraint caught what the services did not check first: still the caller's conflict, never a
        # 500; logged as an error because a service should have refused it with a clearer message.
        logger.error("integrity error answered 409: %s", exc)
        exc = Conflict("This change conflicts with data already stored; reload and try again.")
    elif isinstance(exc, ProtectedError):
        return Response(
            {"detail": "This record is still referenced by other records and cannot be deleted."},
            status=status.HTTP_409_CONFLICT,
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        # A bare list of messages (a non-field error raised as a list) still answers with `detail`.
        response.data = {"detail": " ".join(str(message) for message in response.data)}
    return response
