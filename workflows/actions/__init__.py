"""The action types of workflows, one registry entry each, and the check of a workflow's list of actions.

Each entry (an ActionType) holds its parameters' schema and check, its runner, its dry-run
description and whether it runs inside the step's transaction; the validation, the published
schema, the dry run and the engine read nothing else. Sends go through the messaging services, which
record the e-mail or text as queued before its task is queued; record changes go through the sales
core's services, so other workflows hear of them.
"""

from __future__ import annotations

from ..item_errors import ItemErrors
from ..records import RecordType
from .base import ActionType
from .email import SEND_EMAIL
from .fields import UPDATE_FIELD
from .notification import CREATE_NOTIFICATION
from .sms import SEND_SMS
from .wait import WAIT
from .webhook import WEBHOOK

ACTION_TYPES: dict[str, ActionType] = {
    action_type.name: action_type
    for action_type in (SEND_EMAIL, SEND_SMS, CREATE_NOTIFICATION, UPDATE_FIELD, WEBHOOK, WAIT)
}
MAX_ACTIONS = 20


def action_errors(actions, *, trigger: str, record_type: RecordType | None) -> list[str] | dict:
    """Why these actions are invalid: [] or {} when they are valid."""
    if not isinstance(actions, list) or not actions:
        return ["Give at least one action: a list of {type, params} objects."]
    if len(actions) > MAX_ACTIONS:
        return [f"At most {MAX_ACTIONS} actions."]
    errors = ItemErrors()
    for index, action in errors.objects(
        actions,
        keys={"type", "params"},
        not_an_object="An action is an object with type and params.",
        unknown_key="Unknown key; an action has type and params.",
    ):
        name, params = action.get("type"), action.get("params", {})
        action_type = ACTION_TYPES.get(name) if isinstance(name, str) else None
        if action_type is None:
            errors.add(index, "type", f"Use one of: {', '.join(ACTION_TYPES)}.")
            continue
        if not isinstance(params, dict):
            errors.add(index, "params", "params is an object.")
            continue
        for key in sorted(set(params) - set(action_type.allowed)):
            errors.add(index, f"params.{key}", f"Unknown parameter of {name}.")
        if action_type.needs_record and record_type is None:
            errors.add(index, "type", f"{name} acts on a record: give the workflow a record_type.")
            continue
        for key, message in action_type.check(params, record_type):
            errors.add(index, f"params.{key}", message)
    return errors.items
