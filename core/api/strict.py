"""JSON bodies held to the types the OpenAPI schema gives: no number read as text, no "yes" as true.

DRF coerces generously (`1` becomes `"1"` for a text field, `"true"` and `1` become `True`, `"5"`
becomes `5`), so a client that sends the wrong type gets a silently different record instead of an
error, and the schema stops describing what the API accepts. Every serializer of the API inherits
`StrictJsonTypesMixin` (through `StrictSerializer` or `TenantModelSerializer`); multipart uploads,
whose parts are all text, are left to DRF's own parsing.
"""

import re
from decimal import Decimal

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from ..text import (
    NO_NUL_PATTERN,
    NUL,
    NUL_ESCAPE,
    NUL_IN_JSON_MESSAGE,
    NUL_IN_TEXT_MESSAGE,
    UUID_MESSAGE,
    WHITESPACE,
    holds_nul,
    is_canonical_uuid,
)

# Fields whose JSON form is a string, by the schema drf-spectacular writes for them.
TEXT_FIELDS = (
    serializers.CharField,
    serializers.DateField,
    serializers.DateTimeField,
    serializers.TimeField,
    serializers.DurationField,
    serializers.UUIDField,
    serializers.DecimalField,  # COERCE_DECIMAL_TO_STRING: decimals travel as "12.50"
)


def decimal_pattern(field: serializers.DecimalField) -> str:
    """The strings a decimal field takes, as a regular expression the schema states and the API holds to.

    Plain digits with an optional fraction of at most `decimal_places`, a minus sign only when negative
    values are allowed, and a bound of 10, 100, ... stated exactly (percentages).
    """
    places = field.decimal_places or 0
    fraction = rf"(\.\d{{1,{places}}})?" if places else ""
    whole = (field.max_digits or 30) - places
    sign = "" if field.min_value is not None and Decimal(field.min_value) >= 0 else "-?"
    bound = field.max_value
    if bound is not None and Decimal(bound) > 0 and Decimal(bound).log10() % 1 == 0:
        digits = int(Decimal(bound).log10())
        zeros = rf"(\.0{{1,{places}}})?" if places else ""
        below = rf"\d{{1,{digits}}}{fraction}" if digits else rf"0{fraction}"
        return rf"^{sign}({int(bound)}{zeros}|{below})$"
    body = rf"\d{{1,{whole}}}" if whole > 0 else "0"
    return rf"^{sign}{body}{fraction}$"


def _choice_keys_are_text(field: serializers.ChoiceField) -> bool:
    return all(isinstance(key, str) for key in field.choices)


def json_type_error(field: serializers.Field, value) -> str | None:
    """Why `value` is not of the JSON type the schema gives `field`, or None when it is."""
    if value is None:
        return None  # null is DRF's to judge (allow_null)
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.IntegerField):
        is_integer = isinstance(value, int) and not isinstance(value, bool)
        return None if is_integer else "Must be a whole number."
    if isinstance(field, serializers.FloatField):
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return None if is_number else "Must be a number."
    if isinstance(field, serializers.ChoiceField) and not isinstance(field, serializers.MultipleChoiceField):
        if _choice_keys_are_text(field) and not isinstance(value, str):
            return "Must be one of the listed values, as a string."
        return None
    if isinstance(field, serializers.UUIDField | serializers.PrimaryKeyRelatedField):
        return None if is_canonical_uuid(value) else UUID_MESSAGE
    if isinstance(field, serializers.DecimalField):
        if not isinstance(value, str):
            return "Must be a string."
        matches = re.fullmatch(decimal_pattern(field), value) is not None
        return None if matches else f'Must be a decimal number such as "{_decimal_example(field)}".'
    if isinstance(field, TEXT_FIELDS):
        if not isinstance(value, str):
            return "Must be a string."
        return _text_error(field, value)
    if isinstance(field, serializers.JSONField):
        # PostgreSQL's jsonb cannot hold NUL, in a key or a value: refused here rather than a 500.
        return NUL_IN_JSON_MESSAGE if holds_nul(value) else None
    if isinstance(field, serializers.ManyRelatedField):
        return _list_error(field.child_relation, value)
    if isinstance(field, serializers.ListField):
        return _list_error(field.child, value)
    if isinstance(field, serializers.DictField) or (
        isinstance(field, serializers.Serializer) and not isinstance(field, serializers.ListSerializer)
    ):
        return None if isinstance(value, dict) else "Must be an object."
    if isinstance(field, serializers.ListSerializer):
        return None if isinstance(value, list) else "Must be a list."
    return None


def _text_error(field, value: str) -> str | None:
    """The schema's NUL refusal and maxLength, on the text as sent (a field may clean it into another)."""
    if NUL in value and isinstance(field, serializers.CharField):
        return NUL_IN_TEXT_MESSAGE
    limit = getattr(field, "max_length", None)
    if limit is not None and len(value) > limit:
        return f"Ensure this field has no more than {limit} characters."
    return None


def _decimal_example(field: serializers.DecimalField) -> str:
    return "12." + "5" * field.decimal_places if field.decimal_places else "12"


def _list_error(child: serializers.Field, value) -> str | None:
    if not isinstance(value, list):
        return "Must be a list."
    for position, item in enumerate(value):
        error = json_type_error(child, item)
        if error is not None:
            return f"Item {position}: {error}"
    return None


class StrictJsonTypesMixin:
    """Refuses, per field, a JSON value whose type is not the one the schema gives the field."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {}
            for field in self.fields.values():
                if field.read_only or field.field_name not in data:
                    continue
                error = _type_error(field, data, isinstance(data, QueryDict))
                if error is not None:
                    errors[field.field_name] = [error]
            if errors:
                # The other fields' own errors are reported alongside, as in any 400.
                try:
                    super().to_internal_value(data)
                except ValidationError as others:
                    if isinstance(others.detail, dict):
                        errors = {**others.detail, **errors}
                raise ValidationError(errors)
        return super().to_internal_value(data)


def _type_error(field: serializers.Field, data, multipart: bool) -> str | None:
    """The type error of one field's value; multipart parts are all text, so only ids and lengths count."""
    if not multipart:
        return json_type_error(field, data[field.field_name])
    value = data.get(field.field_name)
    if isinstance(field, serializers.UUIDField | serializers.PrimaryKeyRelatedField):
        return None if is_canonical_uuid(value) else UUID_MESSAGE  # omit the part for "none"
    if isinstance(field, serializers.CharField) and isinstance(value, str):
        return _text_error(field, value)
    return None


# A line as DRF reads it, trimmed first: blank (when allowed) or with some text, no line break inside.
_TEXT_IN_ONE_LINE = rf"[^{WHITESPACE}{NUL_ESCAPE}]([^{NUL_ESCAPE}\n\r]*[^{WHITESPACE}{NUL_ESCAPE}])?"
ONE_LINE_PATTERN = rf"^[{WHITESPACE}]*({_TEXT_IN_ONE_LINE})?[{WHITESPACE}]*$"
NON_BLANK_ONE_LINE_PATTERN = rf"^[{WHITESPACE}]*{_TEXT_IN_ONE_LINE}[{WHITESPACE}]*$"


class OneLineTextField(serializers.CharField):
    """Text of one line (an e-mail subject, say): a line break inside is refused; the schema states it."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if "\n" in value or "\r" in value:
            raise serializers.ValidationError("Must be one line, without line breaks.")
        return value

    @property
    def pattern(self) -> str:
        return ONE_LINE_PATTERN if self.allow_blank else NON_BLANK_ONE_LINE_PATTERN


# Free-form JSON a client sends (a webhook action's payload): text without NUL, which PostgreSQL's
# jsonb cannot hold, in lists and objects nested at most FREE_JSON_DEPTH levels; the schema says so.
FREE_JSON_DEPTH = 3
_NO_NUL = {"pattern": NO_NUL_PATTERN}


def free_json_schema(depth: int = FREE_JSON_DEPTH) -> dict:
    """Any JSON value without NUL, with lists and objects nested at most `depth` levels."""
    members = [{"type": "string", **_NO_NUL, "nullable": True}, {"type": "number"}, {"type": "boolean"}]
    if depth > 0:
        members += [
            {"type": "array", "items": free_json_schema(depth - 1)},
            free_json_object_schema(depth - 1),
        ]
    return {"anyOf": members}


def free_json_object_schema(depth: int = FREE_JSON_DEPTH) -> dict:
    """A JSON object of free_json_schema(depth) values.

    Its keys may not hold NUL either, which OpenAPI 3.0 cannot state (it has no propertyNames).
    """
    return {"type": "object", "additionalProperties": free_json_schema(depth)}


def free_json_problem(value, depth: int = FREE_JSON_DEPTH, *, object_only: bool = False) -> str | None:
    """Why a value breaks free_json_schema (or free_json_object_schema), or None."""
    if object_only and not isinstance(value, dict):
        return "Must be a JSON object."
    if object_only:
        depth += 1  # the object itself is not one of the nested levels
    if isinstance(value, str):
        return NUL_IN_JSON_MESSAGE if NUL in value else None
    if isinstance(value, list | dict):
        if depth < 1:
            return f"Lists and objects nest at most {FREE_JSON_DEPTH} levels here."
        if isinstance(value, dict) and any(NUL in key for key in value):
            return "Keys in this JSON may not contain NUL characters."
        items = value.values() if isinstance(value, dict) else value
        return next((p for p in (free_json_problem(item, depth - 1) for item in items) if p), None)
    return None


class StrictSerializer(StrictJsonTypesMixin, serializers.Serializer):
    """Base of the API's plain (non-model) serializers: request bodies of actions, and replies."""


class NullForBlankMixin:
    """An optional formatted text (URL, email) whose absence is null in JSON, stored as "" in the row.

    `""` is not a valid `uri` or `email` in the schema's formats, so an empty value is answered and
    accepted as null, and an empty string is refused like any other malformed address.
    """

    def __init__(self, **kwargs):
        kwargs["allow_null"] = True
        kwargs["allow_blank"] = False
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data is None and not self.read_only:
            return True, ""
        return super().validate_empty_values(data)

    def to_representation(self, value):
        return super().to_representation(value) if value else None


class OptionalURLField(NullForBlankMixin, serializers.URLField):
    """A URL that may be absent (null)."""


class OptionalEmailField(NullForBlankMixin, serializers.EmailField):
    """An email address that may be absent (null)."""


OPTIONAL_FORMATTED_FIELDS = {
    serializers.URLField: OptionalURLField,
    serializers.EmailField: OptionalEmailField,
}
