"""The documented shape of a workflow's conditions and actions, their validation and the condition test.

The schemas below are published in the OpenAPI document (through the serializer) and described in
docs/WORKFLOWS.md; the validators enforce them and the rules no JSON schema can say (which fields a
record type has, whether a template belongs to the company, whether a value fits the field).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.dateparse import parse_date, parse_datetime

from core.api.strict import free_json_object_schema, free_json_problem
from core.text import is_canonical_uuid
from messaging.services import email as email_service
from messaging.services.sms import MAX_BODY_LENGTH
from tenancy.scoping import scoped_choices

from .records import DATE_TEXT, FieldKind, RecordType, as_number

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "changed", "changed_to")
ORDERING_OPS = ("gt", "gte", "lt", "lte")
CHANGE_OPS = ("changed", "changed_to")
ACTION_TYPES = ("send_email", "send_sms", "create_notification", "update_field", "webhook", "wait")
# Actions that need the record an execution is about (its contact, its owner, its fields).
RECORD_ACTIONS = ("send_sms", "update_field")
MAX_CONDITIONS = 20
MAX_ACTIONS = 20
MAX_IN_VALUES = 100
MAX_WAIT_SECONDS = 30 * 24 * 3600
MAX_WEBHOOK_TIMEOUT = 30
DEFAULT_WEBHOOK_TIMEOUT = 10
PAYLOAD_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
WAIT_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600}
SCALAR = (str, int, float, bool, type(None))
NUMBER_TEXT = r"^-?\d{1,20}(\.\d{1,10})?$"

_ANY_VALUE = {"description": "A string, number, boolean or null; a list for `in`."}

ACTION_TO_DESCRIPTION = "`contact` (the record's contact, the default) or an e-mail address."
RECIPIENT_DESCRIPTION = "`owner` (the workflow's owner, default), `record_owner`, or a user id."

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
            "value": _ANY_VALUE,
        },
    },
    "example": [
        {"field": "stage", "op": "changed_to", "value": "won"},
        {"field": "amount", "op": "gte", "value": 1000},
    ],
}


def _action_schema(action_type: str, params: dict, required: list[str], description: str) -> dict:
    return {
        "type": "object",
        "description": description,
        "required": ["type", "params"],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "enum": [action_type]},
            "params": {
                "type": "object",
                **({"required": required} if required else {}),
                "additionalProperties": False,
                "properties": params,
            },
        },
    }


ACTIONS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_ACTIONS,
    "description": "Steps run in order; each runs once, failed steps are retried with backoff.",
    "items": {
        "oneOf": [
            _action_schema(
                "send_email",
                {
                    "template_id": {"type": "string", "format": "uuid"},
                    "to": {"type": "string", "description": ACTION_TO_DESCRIPTION},
                },
                ["template_id"],
                "E-mail from a template, sent as the workflow's owner.",
            ),
            _action_schema(
                "send_sms",
                {
                    "body": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_BODY_LENGTH,
                        "example": "Hi {{ contact.first_name }}",
                    }
                },
                ["body"],
                "A text to the record's contact; merge fields as in e-mail templates.",
            ),
            _action_schema(
                "create_notification",
                {
                    "recipient": {"type": "string", "description": RECIPIENT_DESCRIPTION},
                    "title": {"type": "string", "minLength": 1, "maxLength": 200},
                    "body": {"type": "string"},
                },
                ["title"],
                "An in-app notification; title and body take merge fields.",
            ),
            _action_schema(
                "update_field",
                {"field": {"type": "string", "example": "stage"}, "value": _ANY_VALUE},
                ["field", "value"],
                "Set one allow-listed field of the record (e.g. a deal's stage), validated like the API.",
            ),
            _action_schema(
                "webhook",
                {
                    "url": {
                        "type": "string",
                        "format": "uri",
                        "pattern": "^https?://[!-~]+$",
                        "maxLength": 2000,
                    },
                    "payload": free_json_object_schema(),
                    "timeout": {"type": "number", "minimum": 1, "maximum": MAX_WEBHOOK_TIMEOUT},
                },
                ["url"],
                "POST a JSON body signed with the workflow's secret (X-CRM-Signature: sha256=<hex>).",
            ),
            _action_schema(
                "wait",
                {
                    "seconds": {"type": "integer", "minimum": 1, "maximum": MAX_WAIT_SECONDS},
                    "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_WAIT_SECONDS // 60},
                    "hours": {"type": "integer", "minimum": 1, "maximum": MAX_WAIT_SECONDS // 3600},
                },
                [],
                "Pause before the next step: exactly one of seconds, minutes or hours (30 days at most).",
            ),
        ]
    },
    "example": [
        {"type": "update_field", "params": {"field": "stage", "value": "negotiation"}},
        {"type": "wait", "params": {"hours": 1}},
        {"type": "create_notification", "params": {"title": "{{ deal.name }} moved on"}},
    ],
}


# Exactly one unit per wait.
ACTIONS_SCHEMA["items"]["oneOf"][-1]["properties"]["params"].update(minProperties=1, maxProperties=1)


class Errors:
    """Per-item errors of a list: {"<index>": {"<key>": ["message", ...]}}."""

    def __init__(self):
        self.items: dict[str, dict[str, list[str]]] = {}

    def add(self, index: int, key: str, message: str) -> None:
        self.items.setdefault(str(index), {}).setdefault(key, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.items)


# Values


def _is_number(value) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


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
        _is_number(value) or (isinstance(value, str) and re.match(NUMBER_TEXT, value))
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
    if kind == FieldKind.NUMBER or (kind is None and _is_number(value)):
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
    from .models import Workflow

    if not isinstance(conditions, list):
        return ["Conditions are a list of {field, op, value} objects."]
    if len(conditions) > MAX_CONDITIONS:
        return [f"At most {MAX_CONDITIONS} conditions."]
    errors = Errors()
    for index, condition in enumerate(conditions):
        if not isinstance(condition, dict):
            errors.add(index, "non_field_errors", "A condition is an object with field, op and value.")
            continue
        for key in sorted(set(condition) - {"field", "op", "value"}):
            errors.add(index, key, "Unknown key; a condition has field, op and value.")
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


# Actions


def action_errors(actions, *, trigger: str, record_type: RecordType | None) -> list[str] | dict:
    """Why these actions are invalid: [] or {} when they are valid."""
    if not isinstance(actions, list) or not actions:
        return ["Give at least one action: a list of {type, params} objects."]
    if len(actions) > MAX_ACTIONS:
        return [f"At most {MAX_ACTIONS} actions."]
    errors = Errors()
    for index, action in enumerate(actions):
        if not isinstance(action, dict):
            errors.add(index, "non_field_errors", "An action is an object with type and params.")
            continue
        for key in sorted(set(action) - {"type", "params"}):
            errors.add(index, key, "Unknown key; an action has type and params.")
        action_type, params = action.get("type"), action.get("params", {})
        if action_type not in ACTION_TYPES:
            errors.add(index, "type", f"Use one of: {', '.join(ACTION_TYPES)}.")
            continue
        if not isinstance(params, dict):
            errors.add(index, "params", "params is an object.")
            continue
        checker = PARAM_CHECKS[action_type]
        for key in sorted(set(params) - set(checker.allowed)):
            errors.add(index, f"params.{key}", f"Unknown parameter of {action_type}.")
        if action_type in RECORD_ACTIONS and record_type is None:
            errors.add(index, "type", f"{action_type} acts on a record: give the workflow a record_type.")
            continue
        for key, message in checker.check(params, record_type):
            errors.add(index, f"params.{key}", message)
    return errors.items


@dataclass(frozen=True)
class ParamCheck:
    allowed: tuple[str, ...]
    check: object


def _merge_field_problems(key: str, text) -> list[tuple[str, str]]:
    if not isinstance(text, str):
        return [(key, "Give text.")]
    return [(key, message) for message in email_service.template_errors(**{key: text}).get(key, [])]


def _check_send_email(params, record_type):
    from messaging.models import EmailTemplate

    problems = []
    template_id = params.get("template_id")
    try:
        template_id = uuid.UUID(str(template_id))
    except ValueError:
        problems.append(("template_id", "Give the id of an e-mail template of this company."))
    else:
        if not EmailTemplate.objects.filter(pk=template_id).exists():
            problems.append(("template_id", "No e-mail template of this company has this id."))
    to = params.get("to", "contact")
    if to == "contact":
        if record_type is None:
            problems.append(("to", "The workflow has no record type, so no contact: give an e-mail address."))
    else:
        try:
            EmailValidator()(to if isinstance(to, str) else "")
        except ValidationError:
            problems.append(("to", "Give `contact` or an e-mail address."))
    return problems


def _check_send_sms(params, record_type):
    body = params.get("body")
    if not isinstance(body, str) or not body.strip():
        return [("body", "Write the message body.")]
    if len(body) > MAX_BODY_LENGTH:
        return [("body", f"An SMS body has at most {MAX_BODY_LENGTH} characters.")]
    return _merge_field_problems("body", body)


def _check_notification(params, record_type):
    problems = []
    recipient = params.get("recipient", "owner")
    if recipient == "record_owner":
        if record_type is None:
            problems.append(("recipient", "record_owner needs a record: give the workflow a record_type."))
    elif recipient != "owner":
        try:
            user_id = uuid.UUID(str(recipient))
        except ValueError:
            problems.append(
                ("recipient", "Give `owner`, `record_owner` or the id of a user of this company.")
            )
        else:
            if not scoped_choices(get_user_model()).filter(pk=user_id).exists():
                problems.append(("recipient", "No active user of this company has this id."))
    title = params.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(("title", "Write a title."))
    elif len(title) > 200:
        problems.append(("title", "A title has at most 200 characters."))
    else:
        problems += _merge_field_problems("title", title)
    if "body" in params:
        problems += _merge_field_problems("body", params["body"])
    return problems


def _check_update_field(params, record_type):
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


def _check_webhook(params, record_type):
    problems = []
    url = params.get("url")
    problem = url_problem(url)
    if problem:
        problems.append(("url", problem))
    payload = params.get("payload", {})
    problem = free_json_problem(payload, object_only=True)
    if problem:
        problems.append(("payload", problem))
    else:
        for text in _strings_in(payload):
            problems += _merge_field_problems("payload", text)
    timeout = params.get("timeout", DEFAULT_WEBHOOK_TIMEOUT)
    if not _is_number(timeout) or not 1 <= timeout <= MAX_WEBHOOK_TIMEOUT:
        problems.append(("timeout", f"Give a number of seconds from 1 to {MAX_WEBHOOK_TIMEOUT}."))
    return problems


def _check_wait(params, record_type):
    given = [unit for unit in WAIT_UNITS if unit in params]
    if len(given) != 1:
        return [("seconds", "Give exactly one of seconds, minutes or hours.")]
    unit = given[0]
    amount = params[unit]
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
        return [(unit, "Give a whole number, 1 or more.")]
    if amount * WAIT_UNITS[unit] > MAX_WAIT_SECONDS:
        return [(unit, "A wait lasts at most 30 days.")]
    return []


PARAM_CHECKS = {
    "send_email": ParamCheck(("template_id", "to"), _check_send_email),
    "send_sms": ParamCheck(("body",), _check_send_sms),
    "create_notification": ParamCheck(("recipient", "title", "body"), _check_notification),
    "update_field": ParamCheck(("field", "value"), _check_update_field),
    "webhook": ParamCheck(("url", "payload", "timeout"), _check_webhook),
    "wait": ParamCheck(tuple(WAIT_UNITS), _check_wait),
}


def wait_seconds(params: dict) -> int:
    return sum(params.get(unit, 0) * factor for unit, factor in WAIT_UNITS.items())


def _strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item)


# Outbound webhook addresses


def url_problem(url) -> str | None:
    """Why a webhook URL is refused at save time: not http(s), no host, or a private literal address."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        return "Give an http(s) URL of at most 2000 characters."
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Only http and https URLs are allowed."
    if not url.isascii():
        return "Give the URL in ASCII: an international domain name in its xn-- form, other text %-encoded."
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "Give a valid http(s) URL, such as https://hooks.example.com/crm."
    if parts.username or parts.password:
        return "Credentials in the URL are not allowed; put them in the payload."
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return None
    if not address_allowed(address):
        return "Private, loopback and link-local addresses are not allowed."
    return None


def address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether outbound webhooks may reach this address (public only, unless private ones are allowed)."""
    if settings.WORKFLOW_WEBHOOK_ALLOW_PRIVATE:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


# The request body per trigger and record type, as published in the OpenAPI document


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
    shapes = []
    for shape in ACTIONS_SCHEMA["items"]["oneOf"]:
        action_type = shape["properties"]["type"]["enum"][0]
        if action_type in RECORD_ACTIONS and record_type is None:
            continue
        if action_type == "update_field":
            shape = {
                **shape,
                "properties": {**shape["properties"], "params": _update_field_params(record_type)},
            }
        narrowed = _params_for(action_type, record_type)
        if narrowed:
            params = shape["properties"]["params"]
            params = {**params, "properties": {**params["properties"], **narrowed}}
            if action_type == "send_email" and record_type is None:
                params["required"] = [*params["required"], "to"]  # no record, so no contact to default to
            shape = {**shape, "properties": {**shape["properties"], "params": params}}
        shapes.append(shape)
    return {**_without_example(ACTIONS_SCHEMA), "items": {"oneOf": shapes}}


def _without_example(schema: dict) -> dict:
    """The general schema's example names deal fields and record actions: not one for every variant."""
    return {key: value for key, value in schema.items() if key != "example"}


def _params_for(action_type: str, record_type: RecordType | None) -> dict:
    """Parameters whose values depend on the record type: its contact and its owner."""
    # Patterns rather than enums, which drf-spectacular would lift into named components.
    if action_type == "send_email":
        address = {"type": "string", "format": "email"}
        to = {"anyOf": [{"type": "string", "pattern": "^contact$"}, address]} if record_type else address
        return {"to": {**to, "description": ACTION_TO_DESCRIPTION}}
    if action_type == "create_notification":
        named = "^(owner|record_owner)$" if record_type else "^owner$"
        user = {"type": "string", "format": "uuid"}
        recipient = {"anyOf": [{"type": "string", "pattern": named}, user]}
        return {"recipient": {**recipient, "description": RECIPIENT_DESCRIPTION}}
    return {}


def _update_field_params(record_type: RecordType) -> dict:
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
