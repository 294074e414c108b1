"""send_sms: a text to the record's contact, recorded through the messaging service and sent by its task."""

from __future__ import annotations

from messaging.services import sms as sms_service

from ..records import RecordType
from .base import ActionType, ParamProblems, RunContext, StepRefused, merge_field_problems, params_schema


def check(params: dict, record_type: RecordType | None) -> ParamProblems:
    body = params.get("body")
    if not isinstance(body, str) or not body.strip():
        return [("body", "Write the message body.")]
    if len(body) > sms_service.MAX_BODY_LENGTH:
        return [("body", f"An SMS body has at most {sms_service.MAX_BODY_LENGTH} characters.")]
    return merge_field_problems("body", body)


def _recipient(ctx: RunContext):
    contact = ctx.contact
    if contact is None:
        raise StepRefused("The record has no contact to text.")
    if not contact.phone:
        raise StepRefused(f"{contact} has no phone number.")
    if contact.sms_opted_out:
        raise StepRefused(sms_service.OPTED_OUT)
    return contact


def run(ctx: RunContext, params: dict) -> dict:
    contact = _recipient(ctx)
    try:
        message = sms_service.send_sms(user=ctx.sender, body=ctx.render(params["body"]), contact=contact)
    except sms_service.SmsRefused as error:
        raise StepRefused(" ".join(error.messages)) from error
    return {"sms_id": str(message.pk), "to": message.to_number, "body": message.body}


def describe(ctx: RunContext, params: dict, *, index: int) -> dict:
    contact = _recipient(ctx)
    return {"to": contact.phone, "body": ctx.render(params["body"]).strip()}


SEND_SMS = ActionType(
    name="send_sms",
    description="A text to the record's contact; merge fields as in e-mail templates.",
    params=params_schema(
        {
            "body": {
                "type": "string",
                "minLength": 1,
                "maxLength": sms_service.MAX_BODY_LENGTH,
                "example": "Hi {{ contact.first_name }}",
            }
        },
        required=("body",),
    ),
    check=check,
    run=run,
    describe=describe,
    transactional=True,
    needs_record=True,
)
