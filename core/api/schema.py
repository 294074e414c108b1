"""OpenAPI extensions for the strict field types, and the error answers and input rules of every operation."""

import inspect

from drf_spectacular.extensions import OpenApiSerializerFieldExtension

from ..text import NO_NUL_PATTERN, NUL_ESCAPE, WHITESPACE
from .strict import OneLineTextField, StrictJsonTypesMixin, StrictSerializer, decimal_pattern


class DecimalFieldExtension(OpenApiSerializerFieldExtension):
    """Decimals as the strings the API takes: digits, places and sign as the field allows them."""

    target_class = "rest_framework.fields.DecimalField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = {"type": "string", "format": "decimal", "pattern": decimal_pattern(field)}
        if field.allow_null:
            schema["nullable"] = True
        return schema


class OneLineTextFieldExtension(OpenApiSerializerFieldExtension):
    """A one-line text with the pattern that says so (no line break once trimmed)."""

    target_class = OneLineTextField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["pattern"] = self.target.pattern
        return schema


class ListSerializerExtension(OpenApiSerializerFieldExtension):
    """A list of nested objects with the bounds the server holds it to (`min_length`, `max_length`)."""

    target_class = "rest_framework.serializers.ListSerializer"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        component = auto_schema.resolve_serializer(self.target.child, direction)
        # A child with no fields of its own gets no component; it is described inline then.
        items = component.ref if component else auto_schema._map_serializer(self.target.child, direction)
        schema = {"type": "array", "items": items}
        if self.target.min_length is not None:
            schema["minItems"] = self.target.min_length
        if self.target.max_length is not None:
            schema["maxItems"] = self.target.max_length
        return schema


ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "An error: a human-readable `detail`, or for validation errors one list of messages per field."
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {},
}
ERROR_DESCRIPTIONS = {
    "400": "Bad request: invalid input (messages per field), unknown filters, or a bad X-Company-ID.",
    "401": "No valid credentials.",
    "403": "Not allowed: another company in X-Company-ID, a deactivated company, or a missing role.",
    "404": "No such record in the current company (another company's record alike), or no such page.",
    "409": "Conflict with the record's state: still referenced by others, or not in a state for this action.",
    "413": "The request body is too large.",
    "415": "The request body's media type is not supported.",
}


def error_codes(method: str, operation: dict) -> list[str]:
    """The error statuses the middleware, the base viewset and DRF can answer for an operation."""
    codes = []
    secured = any(requirement for requirement in operation.get("security", []))
    parameters = operation.get("parameters", [])
    has_path_parameters = any(parameter["in"] == "path" for parameter in parameters)
    paginated = any(parameter["name"] == "page" and parameter["in"] == "query" for parameter in parameters)
    if secured or "requestBody" in operation or any(p["in"] == "query" for p in parameters):
        codes.append("400")
    if secured:
        codes += ["401", "403"]
    if has_path_parameters or paginated:
        codes.append("404")
    if method != "get" and secured:
        codes.append("409")  # a delete of a referenced record, or an action the record's state refuses
    if "requestBody" in operation:
        codes += ["413", "415"]
    return codes


# Pages count from 1 and a page holds at least one row, on every paginated answer (declared or not).
PAGE_PARAMETERS = ("page", "page_size")


def reads_empty_as_absent(parameter: dict) -> bool:
    """Every optional query parameter reads `?name=` as absent, but the page, which must be a number."""
    return parameter["in"] == "query" and not parameter.get("required") and parameter["name"] != "page"


# DRF's text fields refuse NUL (ProhibitNullCharactersValidator); a string with no pattern of its own
# says so, so a client learns it from the schema, not from a 400. (Lone surrogates, refused too, are
# not stated: regular-expression dialects disagree on them, and valid JSON text carries none.)
PLAIN_TEXT_PATTERN = NO_NUL_PATTERN
# A text that may not be blank is refused when only whitespace (DRF trims it first).
NON_BLANK_TEXT_PATTERN = rf"^[^{NUL_ESCAPE}]*[^{NUL_ESCAPE}{WHITESPACE}][^{NUL_ESCAPE}]*$"


def state_plain_text(schema: dict) -> None:
    """Add PLAIN_TEXT_PATTERN to a free-text string schema (no format, enum or pattern of its own)."""
    if schema.get("type") == "string" and not {"format", "enum", "pattern"} & set(schema):
        schema["pattern"] = NON_BLANK_TEXT_PATTERN if schema.get("minLength", 0) >= 1 else PLAIN_TEXT_PATTERN


def request_component_names(result: dict) -> set[str]:
    """Components that describe request bodies (COMPONENT_SPLIT_REQUEST names them *Request)."""
    return {name for name in result.get("components", {}).get("schemas", {}) if name.endswith("Request")}


def _walk_strings(schema: dict) -> None:
    state_plain_text(schema)
    for child in schema.get("properties", {}).values():
        _walk_strings(child)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _walk_strings(schema[key])
    for key in ("oneOf", "anyOf", "allOf"):
        for child in schema.get(key, []):
            _walk_strings(child)


# Serializer bases whose docstrings describe the base, not a body; the API layers add theirs on import.
BASE_SERIALIZERS = [StrictJsonTypesMixin, StrictSerializer]


def register_base_serializer(cls) -> None:
    """A base serializer whose docstring a schema component without its own must not inherit."""
    BASE_SERIALIZERS.append(cls)


def inherited_descriptions() -> set[str]:
    """Docstrings of the API's base serializers, which a serializer without its own inherits."""
    return {inspect.cleandoc(base.__doc__) for base in BASE_SERIALIZERS if base.__doc__}


def document_error_responses(result, generator, request, public):
    """Postprocessing hook: each operation's error answers, and the input rules of lists and bodies."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    inherited = inherited_descriptions()
    for component in result["components"]["schemas"].values():
        if component.get("description") in inherited:
            del component["description"]  # a base class's docstring says nothing about this body
    for name in request_component_names(result):
        _walk_strings(result["components"]["schemas"][name])
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if reads_empty_as_absent(parameter):
                    parameter["allowEmptyValue"] = True
                if parameter["in"] == "query" and parameter["name"] in PAGE_PARAMETERS:
                    parameter["schema"]["minimum"] = 1
                _walk_strings(parameter.get("schema", {}))
            responses = operation.setdefault("responses", {})
            for code in error_codes(method, operation):
                responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code.startswith("4"):
                    # Every error body is the one the exception handler writes, whatever a view declared.
                    response["content"] = {"application/json": {"schema": reference}}
    return result
