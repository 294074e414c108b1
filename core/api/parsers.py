"""Request body parsers: DRF's JSON parser, held to Django's DATA_UPLOAD_MAX_MEMORY_SIZE."""

import io

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser


class RequestBodyTooLarge(APIException):
    """413: a body over settings.DATA_UPLOAD_MAX_MEMORY_SIZE."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"

    def __init__(self):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(f"The request body is too large: at most {limit} bytes.")


class BoundedJSONParser(JSONParser):
    """JSON bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE; DRF reads the stream itself and skips Django's limit."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and stream is not None:
            body = stream.read(limit + 1)  # the Content-Length header may lie or be absent
            if len(body) > limit:
                raise RequestBodyTooLarge()
            stream = io.BytesIO(body)
        return super().parse(stream, media_type, parser_context)
