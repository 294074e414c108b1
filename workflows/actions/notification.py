"""create_notification: an in-app notification to the workflow's owner, the record's owner or a user."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from messaging.models import Notification
from messaging.services.notifications import notify
from tenancy.scoping import scoped_choices
from tenancy.services import company_managers

from ..records import RecordType, parse_uuid
from .base import (
    ActionType,
    ParamProblems,
    RunContext,
    StepRefused,
    merge_field_problems,
    params_schema,
    with_property,
)

RECIPIENT_DESCRIPTION = "`owner` (the workflow's owner, default), `record_owner`, or a user id."
MAX_TITLE_LENGTH = 200


def check(params: dict, record_type: RecordType | None) -> ParamProblems:
    problems = []
    recipient = params.get("recipient", "owner")
    if recipient == "record_owner":
        if record_type is None:
            problems.append(("recipient", "record_owner needs a record: give the workflow a record_type."))
    elif recipient != "owner":
        user_id = parse_uuid(recipient)
        if user_id is None:
            problems.append(
                ("recipient", "Give `owner`, `record_owner` or the id of a user of this company.")
            )
        elif not scoped_choices(get_user_model()).filter(pk=user_id).exists():
            problems.append(("recipient", "No active user of this company has this id."))
    title = params.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append(("title", "Write a title."))
    elif len(title) > MAX_TITLE_LENGTH:
        problems.append(("title", f"A title has at most {MAX_TITLE_LENGTH} characters."))
    else:
        problems += merge_field_problems("title", title)
    if "body" in params:
        problems += merge_field_problems("body", params["body"])
    return problems


def _recipient(ctx: RunContext, params: dict):
    recipient = params.get("recipient", "owner")
    if recipient == "owner":
        return ctx.workflow.user
    if recipient == "record_owner":
        return ctx.record_type.owner_of(ctx.require_record())
    user = scoped_choices(get_user_model()).filter(pk=recipient).first()
    if user is None:
        raise StepRefused("The user to notify is no longer an active user of this company.")
    return user


def _recipient_emails(user) -> list[str]:
    if user is not None and user.company_id:
        return [user.email]
    return [manager.email for manager in company_managers()]


def run(ctx: RunContext, params: dict) -> dict:
    user = _recipient(ctx, params)
    created = notify(
        user,
        kind=Notification.Kind.INFO,
        title=ctx.render(params["title"]),
        body=ctx.render(params.get("body", "")),
        target=ctx.record if ctx.record is not None else ctx.execution,
    )
    return {
        "notification_ids": [str(notification.pk) for notification in created],
        "recipients": _recipient_emails(user),
    }


def describe(ctx: RunContext, params: dict, *, index: int) -> dict:
    user = _recipient(ctx, params)
    return {
        "recipients": _recipient_emails(user),
        "title": ctx.render(params["title"])[:MAX_TITLE_LENGTH],
        "body": ctx.render(params.get("body", "")),
    }


def params_for(params: dict, record_type: RecordType | None) -> dict:
    """`record_owner` is a recipient only with a record type."""
    # Patterns rather than enums, which drf-spectacular would lift into named components.
    named = "^(owner|record_owner)$" if record_type else "^owner$"
    recipient = {"anyOf": [{"type": "string", "pattern": named}, {"type": "string", "format": "uuid"}]}
    return with_property(params, "recipient", {**recipient, "description": RECIPIENT_DESCRIPTION})


CREATE_NOTIFICATION = ActionType(
    name="create_notification",
    description="An in-app notification; title and body take merge fields.",
    params=params_schema(
        {
            "recipient": {"type": "string", "description": RECIPIENT_DESCRIPTION},
            "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE_LENGTH},
            "body": {"type": "string"},
        },
        required=("title",),
    ),
    check=check,
    run=run,
    describe=describe,
    transactional=True,
    params_for=params_for,
)
