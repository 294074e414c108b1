"""What each action does when it runs, and what it would do in a dry run.

Sends go through the messaging services, which record the e-mail or text as queued before its task
is queued; record changes go through the sales core's services, so other workflows hear of them.
An action raises StepRefused for a problem retrying cannot fix (the contact has no address, the
template was deleted); any other exception counts as a failed attempt and the step is retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder

from messaging.models import EmailTemplate, Notification
from messaging.services import email as email_service
from messaging.services import sms as sms_service
from messaging.services.notifications import notify
from tenancy.scoping import scoped_choices
from tenancy.services import company_managers

from . import signing
from .records import RecordType
from .rules import DEFAULT_WEBHOOK_TIMEOUT, wait_seconds


class StepRefused(Exception):
    """A step that cannot succeed however often it is tried; the message says why."""


@dataclass
class RunContext:
    """What the actions of one execution (or one dry run) act on."""

    workflow: object
    record_type: RecordType | None
    record: object | None
    payload: dict
    execution: object | None = None

    @cached_property
    def contact(self):
        if self.record is None:
            return None
        return self.record_type.contact_of(self.record)

    @cached_property
    def deal(self):
        if self.record is None:
            return None
        return self.record_type.deal_of(self.record)

    @property
    def sender(self):
        return self.workflow.user

    @cached_property
    def merge_values(self) -> dict[str, str]:
        return email_service.merge_values(
            contact=self.contact, deal=self.deal, sender=self.sender, company=self.workflow.company
        )

    def render(self, text: str) -> str:
        return email_service.render_text(text or "", self.merge_values)

    def require_record(self):
        if self.record is None:
            kind = self.record_type.name if self.record_type else "record"
            raise StepRefused(f"The {kind} this execution acts on no longer exists in this company.")
        return self.record


# send_email


def _email_parts(ctx: RunContext, params: dict):
    template = EmailTemplate.objects.filter(pk=params["template_id"]).first()
    if template is None:
        raise StepRefused("The e-mail template no longer exists.")
    to = params.get("to", "contact")
    if to == "contact":
        contact = ctx.contact
        if contact is None:
            raise StepRefused("The record has no contact to e-mail.")
        if not contact.email:
            raise StepRefused(f"{contact} has no e-mail address.")
        return template, contact, contact.email
    return template, None, to


def run_send_email(ctx: RunContext, params: dict) -> dict:
    template, contact, to_email = _email_parts(ctx, params)
    try:
        email = email_service.compose_email(
            sender=ctx.sender, to_email=to_email, contact=contact, deal=ctx.deal, template=template
        )
    except ValidationError as error:
        raise StepRefused(" ".join(error.messages)) from error
    return {"email_id": str(email.pk), "to": email.to_email, "subject": email.subject}


def describe_send_email(ctx: RunContext, params: dict, *, index: int) -> dict:
    template, contact, to_email = _email_parts(ctx, params)
    rendered = email_service.render_template(
        template, contact=contact or ctx.contact, deal=ctx.deal, sender=ctx.sender
    )
    return {"to": to_email, "subject": rendered.subject, "template": template.name}


# send_sms


def _sms_recipient(ctx: RunContext):
    contact = ctx.contact
    if contact is None:
        raise StepRefused("The record has no contact to text.")
    if not contact.phone:
        raise StepRefused(f"{contact} has no phone number.")
    if contact.sms_opted_out:
        raise StepRefused(sms_service.OPTED_OUT)
    return contact


def run_send_sms(ctx: RunContext, params: dict) -> dict:
    contact = _sms_recipient(ctx)
    try:
        message = sms_service.send_sms(user=ctx.sender, body=ctx.render(params["body"]), contact=contact)
    except sms_service.SmsRefused as error:
        raise StepRefused(" ".join(error.messages)) from error
    return {"sms_id": str(message.pk), "to": message.to_number, "body": message.body}


def describe_send_sms(ctx: RunContext, params: dict, *, index: int) -> dict:
    contact = _sms_recipient(ctx)
    return {"to": contact.phone, "body": ctx.render(params["body"]).strip()}


# create_notification


def _notification_recipient(ctx: RunContext, params: dict):
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


def run_create_notification(ctx: RunContext, params: dict) -> dict:
    user = _notification_recipient(ctx, params)
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


def describe_create_notification(ctx: RunContext, params: dict, *, index: int) -> dict:
    user = _notification_recipient(ctx, params)
    return {
        "recipients": _recipient_emails(user),
        "title": ctx.render(params["title"])[:200],
        "body": ctx.render(params.get("body", "")),
    }


# update_field


def _field_change(ctx: RunContext, params: dict) -> tuple[str, object, object]:
    record = ctx.require_record()
    field = params["field"]
    try:
        new = ctx.record_type.clean_value(field, params["value"])
    except ValidationError as error:
        raise StepRefused(f"{field}: {' '.join(error.messages)}") from error
    return field, ctx.record_type.value_of(record, field), new


def run_update_field(ctx: RunContext, params: dict) -> dict:
    field, old, new = _field_change(ctx, params)
    if old == new:
        return {"field": field, "old": old, "new": new, "changed": False}
    ctx.record_type.save(ctx.record, **ctx.record_type.update_kwargs(field, new))
    return {"field": field, "old": old, "new": ctx.record_type.value_of(ctx.record, field), "changed": True}


def describe_update_field(ctx: RunContext, params: dict, *, index: int) -> dict:
    field, old, new = _field_change(ctx, params)
    return {"field": field, "old": old, "new": new, "changed": old != new}


# webhook


def webhook_body(ctx: RunContext, params: dict, *, step_index: int) -> dict:
    """The JSON an outbound webhook sends: who sent it, about which record, and the rendered payload."""
    execution = ctx.execution
    record = None
    if ctx.record is not None:
        record = {"type": ctx.record_type.name, "id": str(ctx.record.pk)}
    return {
        "workflow_id": str(ctx.workflow.pk),
        "execution_id": str(execution.pk) if execution is not None else None,
        "step": step_index,
        "trigger": execution.trigger if execution is not None else ctx.workflow.trigger,
        "record": record,
        "data": _render_json(ctx, params.get("payload", {})),
    }


def _render_json(ctx: RunContext, value):
    if isinstance(value, str):
        return ctx.render(value)
    if isinstance(value, dict):
        return {key: _render_json(ctx, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_json(ctx, item) for item in value]
    return value


def encode(body: dict) -> bytes:
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class WebhookCall:
    """An outbound webhook claimed by one attempt, made outside any database transaction."""

    index: int
    attempt: int
    url: str
    body: bytes
    secret: str
    timeout: float
    delivery_id: str

    def perform(self) -> signing.WebhookResult:
        return signing.post_signed(
            url=self.url,
            body=self.body,
            secret=self.secret,
            timeout=self.timeout,
            delivery_id=self.delivery_id,
        )


def webhook_call(ctx: RunContext, params: dict, *, index: int, attempt: int) -> WebhookCall:
    return WebhookCall(
        index=index,
        attempt=attempt,
        url=params["url"],
        body=encode(webhook_body(ctx, params, step_index=index)),
        secret=ctx.workflow.secret,
        timeout=float(params.get("timeout", DEFAULT_WEBHOOK_TIMEOUT)),
        delivery_id=f"{ctx.execution.pk}:{index}",
    )


def describe_webhook(ctx: RunContext, params: dict, *, index: int) -> dict:
    return {
        "url": params["url"],
        "payload": webhook_body(ctx, params, step_index=index),
        "timeout": params.get("timeout", DEFAULT_WEBHOOK_TIMEOUT),
    }


def describe_wait(ctx: RunContext, params: dict, *, index: int) -> dict:
    return {"seconds": wait_seconds(params)}


# Steps that run inside the execution's transaction: their writes commit with the step's success.
TRANSACTIONAL_RUNNERS = {
    "send_email": run_send_email,
    "send_sms": run_send_sms,
    "create_notification": run_create_notification,
    "update_field": run_update_field,
}
DESCRIBERS = {
    "send_email": describe_send_email,
    "send_sms": describe_send_sms,
    "create_notification": describe_create_notification,
    "update_field": describe_update_field,
    "webhook": describe_webhook,
    "wait": describe_wait,
}
