"""Conditions of a workflow: their documented rules, their validation and their evaluation at run time.

The validators enforce what the published schema (workflows.schema) states and the rules no JSON
schema can say (which fields a record type has, whether a value fits the field); `evaluate` tests
conditions against a record's fields or a trigger's payload.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from django.utils.dateparse import parse_date, parse_datetime

from core.text import is_canonical_uuid

from .item_errors import ItemErrors
from .models import Workflow
from .records import DATE_TEXT, FieldKind, RecordType, as_number, is_number

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "changed", "changed_to")
ORDERING_OPS = ("gt", "gte", "lt", "lte")
CHANGE_OPS = ("changed", "changed_to")
MAX_CONDITIONS = 20
MAX_IN_VALUES = 100
PAYLOAD_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
SCALAR = (str, int, float, bool, type(None))
NUMBER_TEXT = r"^-?\d{1,20}(\.\d{1,10})?$"

# The value a condition compares with, as the schema describes it (update_field's value reuses it).
ANY_VALUE = {"description": "A string, number, boolean or null; a list for `in`."}


# Values


def value_problem(
    kind: str | None, value, record_type: RecordType | None = None, field: str = ""
) -> str | None:
    """Why a condition value cannot be compared with a field of this kind, or None when it can."""
    if value is None:
        return None
    if not isinstance(value, SCALAR):
        return "Give a string, a number, a boolean or null."
    if kind is None:
        return None
    if kind == FieldKind.NUMBER and not (
        is_number(value) or (isinstance(value, str) and re.match(NUMBER_TEXT, value))
    ):
        return "Give a number."
    if kind == FieldKind.BOOLEAN and not isinstance(value, bool):
        return "Give true or false."
    if kind == FieldKind.DATE and not (
        isinstance(value, str) and re.match(DATE_TEXT, value) and _valid_date(value)
    ):
        return "Give a date as YYYY-MM-DD."
    if kind == FieldKind.DATETIME and not (isinstance(value, str) and _parse_moment(value)):
        return "Give a date and time in ISO 8601, e.g. 2026-01-31T09:00:00Z."
    if kind == FieldKind.REFERENCE and not is_canonical_uuid(value):
        return "Give a record id (UUID)."
    if kind == FieldKind.CHOICE and record_type is not None:
        choices = [str(choice) for choice, _ in record_type.model_field(field).choices]
        if value not in choices:
            return f"Give one of: {', '.join(choices)}."
    if kind == FieldKind.TEXT and not isinstance(value, str):
        return "Give text."
    return None


def _valid_date(value: str) -> bool:
    try:
        return parse_date(value) is not None
    except ValueError:
        return False


def _parse_moment(value: str):
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            return None
        moment = datetime.datetime.combine(day, datetime.time.min)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


def normalize(kind: str | None, value):
    """A value made comparable: numbers as Decimal, dates parsed, text case-folded."""
    if value is None:
        return None
    if isinstance(value, list):
        return [normalize(kind, item) for item in value]
    if kind == FieldKind.NUMBER or (kind is None and is_number(value)):
        return as_number(value)
    if kind == FieldKind.DATE:
        return parse_date(str(value)) if not isinstance(value, datetime.date) else value
    if kind == FieldKind.DATETIME:
        return _parse_moment(str(value))
    if kind == FieldKind.BOOLEAN:
        return bool(value)
    if kind in (FieldKind.TEXT, FieldKind.REFERENCE) or (kind is None and isinstance(value, str)):
        return str(value).casefold()
    return value


# Conditions


def condition_errors(conditions, *, trigger: str, record_type: RecordType | None) -> list[str] | dict:
    """Why these conditions are invalid for the trigger and record type: [] or {} when they are valid."""
    if not isinstance(conditions, list):
        return ["Conditions are a list of {field, op, value} objects."]
    if len(conditions) > MAX_CONDITIONS:
        return [f"At most {MAX_CONDITIONS} conditions."]
    errors = ItemErrors()
    for index, condition in errors.objects(
        conditions,
        keys={"field", "op", "value"},
        not_an_object="A condition is an object with field, op and value.",
        unknown_key="Unknown key; a condition has field, op and value.",
    ):
        field, op = condition.get("field"), condition.get("op")
        kind = None
        if not isinstance(field, str) or not field:
            errors.add(index, "field", "Name the field to test.")
        elif record_type is not None:
            if field not in record_type.condition_fields:
                errors.add(
                    index,
                    "field",
                    f"A {record_type.name} has no field {field!r} to test; use one of: "
                    + ", ".join(record_type.condition_fields)
                    + ".",
                )
            else:
                kind = record_type.kind(field)
        elif not PAYLOAD_FIELD.match(field):
            errors.add(index, "field", "Name a payload key, or a dotted path such as deal.amount.")
        if op not in OPS:
            errors.add(index, "op", f"Use one of: {', '.join(OPS)}.")
            continue
        if op in CHANGE_OPS and trigger not in Workflow.RECORD_TRIGGERS:
            errors.add(index, "op", f"{op} applies to record_created and record_updated triggers only.")
        value = condition.get("value")
        if op == "changed":
            if "value" in condition:
                errors.add(index, "value", "changed takes no value.")
            continue
        if "value" not in condition:
            errors.add(index, "value", f"{op} compares with a value; give one.")
            continue
        if field and record_type is not None and kind is None:
            continue  # the unknown field is reported already
        for problem in _op_value_problems(op, kind, value, record_type, field):
            errors.add(index, "value", problem)
    return errors.items


def _op_value_problems(op, kind, value, record_type, field) -> list[str]:
    if op == "in":
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            return [f"in takes a list of 1 to {MAX_IN_VALUES} values."]
        problems = [value_problem(kind, item, record_type, field) for item in value]
        return sorted({problem for problem in problems if problem})
    if op in ORDERING_OPS:
        if kind is not None and kind not in (FieldKind.NUMBER, FieldKind.DATE, FieldKind.DATETIME):
            return [f"{op} compares numbers, dates and times; this field is {kind}."]
        if value is None:
            return [f"{op} needs a value to compare with."]
    if op == "contains":
        if kind is not None and kind != FieldKind.TEXT:
            return ["contains applies to text fields."]
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            return ["contains takes text."]
        return []
    problem = value_problem(kind, value, record_type, field)
    return [problem] if problem else []


@dataclass(frozen=True)
class ConditionResult:
    """One condition as evaluated: the value found and whether it held."""

    field: str
    op: str
    value: object
    actual: object
    met: bool | None


MISSING = object()


def payload_value(payload: dict, path: str):
    """A dotted path into a JSON object, or MISSING."""
    current = payload
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return MISSING
        current = current[part]
    return current


def evaluate(
    conditions,
    *,
    record_type: RecordType | None,
    record=None,
    payload=None,
    changed_fields=None,
    events=False,
):
    """Each condition with its outcome, tested against the record's fields or the payload.

    `changed` and `changed_to` describe a record event: without `events` (a manual run, a dry run
    given no changes) they are not evaluated and their outcome is None.
    """
    changed_fields = changed_fields or {}
    results = []
    for condition in conditions:
        field, op, expected = condition["field"], condition["op"], condition.get("value")
        kind = record_type.kind(field) if record_type is not None else None
        if record is not None:
            actual = record_type.value_of(record, field)
        else:
            actual = payload_value(payload or {}, field)
        if op in CHANGE_OPS and not events:
            met = None
        elif op == "changed":
            met = field in changed_fields
        elif op == "changed_to":
            met = field in changed_fields and _holds("eq", kind, changed_fields[field][1], expected)
        else:
            met = actual is not MISSING and _holds(op, kind, actual, expected)
        shown = None if actual is MISSING else actual
        results.append(ConditionResult(field, op, expected, shown, met))
    return results


def unmet(results: list[ConditionResult]) -> list[str]:
    """The conditions that did not hold, as `field op value` texts."""
    return [f"{result.field} {result.op} {result.value!r}" for result in results if result.met is False]


def _holds(op: str, kind: str | None, actual, expected) -> bool:
    left, right = normalize(kind, actual), normalize(kind, expected)
    try:
        if op == "eq":
            return left == right
        if op == "ne":
            return left != right
        if op == "in":
            return left in right
        if op == "contains":
            if isinstance(left, list):
                return right in left
            return isinstance(left, str) and str(right).casefold() in left
        if left is None or right is None:
            return False
        return {
            "gt": left > right,
            "gte": left >= right,
            "lt": left < right,
            "lte": left <= right,
        }[op]
    except TypeError:
        return False
