"""The shape of a workflow's conditions and actions as published in the OpenAPI document.

The general schemas document the Workflow component's fields; `conditions_schema` and
`actions_schema` narrow them for the request body variant of one trigger and record type. The
actions' parts come from their registry entries (workflows.actions); docs/WORKFLOWS.md describes
the same rules, and workflows.conditions and workflows.actions enforce them.
"""

from __future__ import annotations

from .actions import ACTION_TYPES, MAX_ACTIONS
from .actions.base import ActionType
from .conditions import (
    ANY_VALUE,
    MAX_CONDITIONS,
    MAX_IN_VALUES,
    NUMBER_TEXT,
    OPS,
    ORDERING_OPS,
    PAYLOAD_FIELD,
)
from .records import FieldKind, RecordType

CONDITIONS_SCHEMA = {
    "type": "array",
    "maxItems": MAX_CONDITIONS,
    "description": (
        "Every condition must hold (AND). `field` is a field of the record type (e.g. `stage` of a deal) "
        "or, for workflows with no record type, a dotted path into the trigger payload. `changed` and "
        "`changed_to` apply to record triggers only. Text comparisons ignore case. See docs/WORKFLOWS.md."
    ),
    "items": {
        "type": "object",
        "required": ["field", "op"],
        "additionalProperties": False,
        "properties": {
            "field": {"type": "string", "example": "stage"},
            "op": {"type": "string", "enum": list(OPS)},
            "value": ANY_VALUE,
        },
    },
    "example": [
        {"field": "stage", "op": "changed_to", "value": "won"},
        {"field": "amount", "op": "gte", "value": 1000},
    ],
}


def _action_schema(action_type: ActionType, params: dict) -> dict:
    return {
        "type": "object",
        "description": action_type.description,
        "required": ["type", "params"],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "enum": [action_type.name]},
            "params": params,
        },
    }


ACTIONS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_ACTIONS,
    "description": "Steps run in order; each runs once, failed steps are retried with backoff.",
    "items": {
        "oneOf": [_action_schema(action_type, action_type.params) for action_type in ACTION_TYPES.values()]
    },
    "example": [
        {"type": "update_field", "params": {"field": "stage", "value": "negotiation"}},
        {"type": "wait", "params": {"hours": 1}},
        {"type": "create_notification", "params": {"title": "{{ deal.name }} moved on"}},
    ],
}


# The request body per trigger and record type


def _kind_value_schema(kind: str | None, choices: list[str]) -> dict:
    """The non-null values a condition on a field of this kind compares with."""
    if kind == FieldKind.CHOICE:
        return {"type": "string", "enum": choices}
    if kind == FieldKind.NUMBER:
        return {"anyOf": [{"type": "number"}, {"type": "string", "pattern": NUMBER_TEXT}]}
    if kind == FieldKind.DATE:
        return {"type": "string", "format": "date"}
    if kind == FieldKind.DATETIME:
        return {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}
    if kind == FieldKind.BOOLEAN:
        return {"type": "boolean"}
    if kind == FieldKind.REFERENCE:
        return {"type": "string", "format": "uuid"}
    if kind == FieldKind.TEXT:
        return {"type": "string"}
    return {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}


def _nullable(schema: dict) -> dict:
    if "enum" in schema:
        # OpenAPI 3.0 lets an enum refuse null even when nullable: null must be listed.
        return {**schema, "nullable": True, "enum": [*schema["enum"], None]}
    if "anyOf" in schema:
        return {"anyOf": [{**schema["anyOf"][0], "nullable": True}, *schema["anyOf"][1:]]}
    return {**schema, "nullable": True}


def _condition(field_schema: dict, ops: list[str], value: dict | None) -> dict:
    properties = {"field": field_schema, "op": {"type": "string", "enum": ops}}
    if value is not None:
        properties["value"] = value
    return {
        "type": "object",
        "required": ["field", "op", "value"] if value is not None else ["field", "op"],
        "additionalProperties": False,
        "properties": properties,
    }


def _conditions_on(field_schema: dict, kind: str | None, choices: list[str], *, events: bool) -> list[dict]:
    """The condition shapes on fields of one kind: ops without a value, with one, with a list."""
    value = _kind_value_schema(kind, choices)
    equal_ops = ["eq", "ne", "changed_to"] if events else ["eq", "ne"]
    shapes = [
        _condition(field_schema, equal_ops, _nullable(value)),
        _condition(
            field_schema,
            ["in"],
            {"type": "array", "minItems": 1, "maxItems": MAX_IN_VALUES, "items": _nullable(value)},
        ),
    ]
    if events:
        shapes.append(_condition(field_schema, ["changed"], None))
    if kind in (None, FieldKind.NUMBER, FieldKind.DATE, FieldKind.DATETIME):
        shapes.append(_condition(field_schema, list(ORDERING_OPS), value))
    if kind in (None, FieldKind.TEXT):
        shapes.append(
            _condition(field_schema, ["contains"], {"anyOf": [{"type": "string"}, {"type": "number"}]})
        )
    return shapes


def conditions_schema(record_type: RecordType | None, *, events: bool) -> dict:
    """The conditions a workflow of this record type may have; change ops only on record events."""
    if record_type is None:
        shapes = _conditions_on({"type": "string", "pattern": PAYLOAD_FIELD.pattern}, None, [], events=False)
    else:
        by_kind: dict[tuple, list[str]] = {}
        for name in record_type.condition_fields:
            kind = record_type.kind(name)
            choices = tuple(str(choice) for choice, _ in record_type.model_field(name).choices or [])
            by_kind.setdefault((kind, choices), []).append(name)
        shapes = []
        for (kind, choices), names in by_kind.items():
            shapes += _conditions_on({"type": "string", "enum": names}, kind, list(choices), events=events)
    return {**_without_example(CONDITIONS_SCHEMA), "items": {"oneOf": shapes}}


def actions_schema(record_type: RecordType | None) -> dict:
    """The actions a workflow of this record type may have: record actions need one."""
    shapes = [
        _action_schema(action_type, action_type.params_schema(record_type))
        for action_type in ACTION_TYPES.values()
        if record_type is not None or not action_type.needs_record
    ]
    return {**_without_example(ACTIONS_SCHEMA), "items": {"oneOf": shapes}}


def _without_example(schema: dict) -> dict:
    """The general schema's example names deal fields and record actions: not one for every variant."""
    return {key: value for key, value in schema.items() if key != "example"}
