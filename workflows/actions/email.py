"""send_email: an e-mail from a template, recorded through the messaging service and sent by its task."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from messaging.models import EmailTemplate
from messaging.services import email as email_service
from messaging.services import templates

from ..records import RecordType, parse_uuid
from .base import ActionType, ParamProblems, RunContext, StepRefused, params_schema, with_property

TO_DESCRIPTION = "`contact` (the record's contact, the default) or an e-mail address."


def check(params: dict, record_type: RecordType | None) -> ParamProblems:
    problems = []
    template_id = parse_uuid(params.get("template_id"))
    if template_id is None:
        problems.append(("template_id", "Give the id of an e-mail template of this company."))
    elif not EmailTemplate.objects.filter(pk=template_id).exists():
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


def _parts(ctx: RunContext, params: dict):
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


def run(ctx: RunContext, params: dict) -> dict:
    template, contact, to_email = _parts(ctx, params)
    try:
        email = email_service.compose_email(
            sender=ctx.sender, to_email=to_email, contact=contact, deal=ctx.deal, template=template
        )
    except ValidationError as error:
        raise StepRefused(" ".join(error.messages)) from error
    return {"email_id": str(email.pk), "to": email.to_email, "subject": email.subject}


def describe(ctx: RunContext, params: dict, *, index: int) -> dict:
    template, contact, to_email = _parts(ctx, params)
    rendered = templates.render_template(
        template, contact=contact or ctx.contact, deal=ctx.deal, sender=ctx.sender
    )
    return {"to": to_email, "subject": rendered.subject, "template": template.name}


def params_for(params: dict, record_type: RecordType | None) -> dict:
    """`to` is the contact or an address with a record type; without one, a required address."""
    # Patterns rather than enums, which drf-spectacular would lift into named components.
    address = {"type": "string", "format": "email"}
    to = {"anyOf": [{"type": "string", "pattern": "^contact$"}, address]} if record_type else address
    narrowed = with_property(params, "to", {**to, "description": TO_DESCRIPTION})
    if record_type is None:
        narrowed["required"] = [*params["required"], "to"]  # no record, so no contact to default to
    return narrowed


SEND_EMAIL = ActionType(
    name="send_email",
    description="E-mail from a template, sent as the workflow's owner.",
    params=params_schema(
        {
            "template_id": {"type": "string", "format": "uuid"},
            "to": {"type": "string", "description": TO_DESCRIPTION},
        },
        required=("template_id",),
    ),
    check=check,
    run=run,
    describe=describe,
    transactional=True,
    params_for=params_for,
)
