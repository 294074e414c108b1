"""update_field: set one allow-listed field of the record, saved through its record type's service."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from ..conditions import ANY_VALUE
from ..records import RecordType
from .base import ActionType, ParamProblems, RunContext, StepRefused, params_schema


def check(params: dict, record_type: RecordType) -> ParamProblems:
    field = params.get("field")
    if field not in record_type.updatable_fields:
        return [
            (
                "field",
                f"A workflow may set these fields of a {record_type.name}: "
                + ", ".join(record_type.updatable_fields)
                + ".",
            )
        ]
    if "value" not in params:
        return [("value", "Give the value to set.")]
    try:
        record_type.clean_value(field, params["value"])
    except ValidationError as error:
        return [("value", message) for message in error.messages]
    return []


def _change(ctx: RunContext, params: dict) -> tuple[str, object, object]:
    record = ctx.require_record()
    field = params["field"]
    try:
        new = ctx.record_type.clean_value(field, params["value"])
    except ValidationError as error:
        raise StepRefused(f"{field}: {' '.join(error.messages)}") from error
    return field, ctx.record_type.value_of(record, field), new


def run(ctx: RunContext, params: dict) -> dict:
    field, old, new = _change(ctx, params)
    if old == new:
        return {"field": field, "old": old, "new": new, "changed": False}
    ctx.record_type.save(ctx.record, **ctx.record_type.update_kwargs(field, new))
    return {"field": field, "old": old, "new": ctx.record_type.value_of(ctx.record, field), "changed": True}


def describe(ctx: RunContext, params: dict, *, index: int) -> dict:
    field, old, new = _change(ctx, params)
    return {"field": field, "old": old, "new": new, "changed": old != new}


def params_for(params: dict, record_type: RecordType) -> dict:
    """One params shape per field a workflow may set, with the value typed as the field holds it."""
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["field", "value"],
                "additionalProperties": False,
                "properties": {
                    "field": {"type": "string", "enum": [name]},
                    "value": record_type.value_schema(name),
                },
            }
            for name in record_type.updatable_fields
        ]
    }


UPDATE_FIELD = ActionType(
    name="update_field",
    description="Set one allow-listed field of the record (e.g. a deal's stage), validated like the API.",
    params=params_schema(
        {"field": {"type": "string", "example": "stage"}, "value": ANY_VALUE}, required=("field", "value")
    ),
    check=check,
    run=run,
    describe=describe,
    transactional=True,
    needs_record=True,
    params_for=params_for,
)
