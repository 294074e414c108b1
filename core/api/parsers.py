"""Request body parsers: DRF's JSON parser, bounded in size (DATA_UPLOAD_MAX_MEMORY_SIZE) and in depth."""

import io

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def json_nesting_depth(body: bytes) -> int:
    """How deep arrays and objects nest in a JSON text, found without parsing it (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSERS:
            depth -= 1
    return deepest


def nesting_problem(body: bytes) -> str | None:
    """Why a JSON body nests too deep to be taken (settings.JSON_MAX_DEPTH), or None."""
    limit = settings.JSON_MAX_DEPTH
    # Fewer brackets than the limit cannot nest past it: most bodies skip the byte-by-byte walk.
    if body.count(b"[") + body.count(b"{") <= limit:
        return None
    if json_nesting_depth(body) > limit:
        return f"The JSON body nests arrays and objects deeper than {limit} levels."
    return None


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
        if stream is None:
            return super().parse(stream, media_type, parser_context)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)  # Content-Length may lie
        if limit is not None and len(body) > limit:
            raise RequestBodyTooLarge()
        # Python's parser recurses once per level: thousands of levels are a RecursionError (a 500),
        # hundreds pass it and exhaust the code that walks the value later.
        problem = nesting_problem(body)
        if problem:
            raise ParseError(problem)
        return super().parse(io.BytesIO(body), media_type, parser_context)
