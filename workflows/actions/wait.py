"""wait: a pause before the next step, of exactly one of seconds, minutes or hours (30 days at most)."""

from __future__ import annotations

from ..records import RecordType
from .base import ActionType, ParamProblems, RunContext, params_schema

MAX_SECONDS = 30 * 24 * 3600
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600}


def check(params: dict, record_type: RecordType | None) -> ParamProblems:
    given = [unit for unit in UNITS if unit in params]
    if len(given) != 1:
        return [("seconds", "Give exactly one of seconds, minutes or hours.")]
    unit = given[0]
    amount = params[unit]
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
        return [(unit, "Give a whole number, 1 or more.")]
    if amount * UNITS[unit] > MAX_SECONDS:
        return [(unit, "A wait lasts at most 30 days.")]
    return []


def seconds(params: dict) -> int:
    return sum(params.get(unit, 0) * factor for unit, factor in UNITS.items())


def describe(ctx: RunContext, params: dict, *, index: int) -> dict:
    return {"seconds": seconds(params)}


WAIT = ActionType(
    name="wait",
    description="Pause before the next step: exactly one of seconds, minutes or hours (30 days at most).",
    params=params_schema(
        {
            "seconds": {"type": "integer", "minimum": 1, "maximum": MAX_SECONDS},
            "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_SECONDS // 60},
            "hours": {"type": "integer", "minimum": 1, "maximum": MAX_SECONDS // 3600},
        },
        minProperties=1,  # exactly one unit per wait
        maxProperties=1,
    ),
    check=check,
    run=seconds,
    describe=describe,
    transactional=False,
    pauses=True,
)
