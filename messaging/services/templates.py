"""E-mail templates: allow-listed merge fields, rendered safely, and the templates themselves.

Rule violations are raised as django.core.exceptions.ValidationError, which the API answers with a 400.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.html import escape

from tenancy.trash import StillReferenced

from ..models import Email, EmailCampaign, EmailTemplate

# Merge fields: an explicit allow-list, rendered without executing any template language.


@dataclass(frozen=True)
class MergeField:
    """One `{{ namespace.name }}` placeholder and how its text is read from the record."""

    namespace: str
    name: str
    label: str
    read: Callable[[object], object]

    @property
    def key(self) -> str:
        return f"{self.namespace}.{self.name}"


def _text(value) -> str:
    return "" if value is None else str(value)


MERGE_FIELDS: tuple[MergeField, ...] = (
    MergeField("contact", "first_name", "Contact's first name", lambda c: c.first_name),
    MergeField("contact", "last_name", "Contact's last name", lambda c: c.last_name),
    MergeField("contact", "full_name", "Contact's full name", lambda c: c.full_name),
    MergeField("contact", "email", "Contact's e-mail address", lambda c: c.email),
    MergeField("contact", "phone", "Contact's phone number", lambda c: c.phone),
    MergeField("contact", "title", "Contact's job title", lambda c: c.title),
    MergeField(
        "contact",
        "account_name",
        "Name of the contact's account",
        lambda c: c.account.name if c.account else "",
    ),
    MergeField("deal", "name", "Deal name", lambda d: d.name),
    MergeField("deal", "amount", "Deal amount, e.g. 12,500.00", lambda d: f"{d.amount:,.2f}"),
    MergeField("deal", "currency", "Deal currency code", lambda d: d.currency),
    MergeField("deal", "stage", "Deal stage", lambda d: d.get_stage_display()),
    MergeField(
        "deal",
        "expected_close_date",
        "Deal's expected close date (YYYY-MM-DD)",
        lambda d: d.expected_close_date.isoformat() if d.expected_close_date else "",
    ),
    MergeField("sender", "full_name", "Sender's name", lambda u: u.full_name or u.email),
    MergeField("sender", "email", "Sender's e-mail address", lambda u: u.email),
    MergeField("sender", "phone", "Sender's phone number", lambda u: u.phone),
    MergeField("company", "name", "Your company's name", lambda c: c.name),
)
MERGE_FIELD_KEYS = frozenset(field.key for field in MERGE_FIELDS)

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
TEMPLATE_TAG = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.DOTALL)
TEMPLATE_PARTS = ("subject", "body_text", "body_html")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body_text: str
    body_html: str


def _placeholder_key(inner: str) -> str:
    """`{{  contact.first_name }}` -> "contact.first_name"; whitespace inside the braces is tolerated."""
    return inner.strip()


def merge_fields_in(text: str) -> list[str]:
    """The placeholders a text uses, in order of first appearance."""
    return list(dict.fromkeys(_placeholder_key(inner) for inner in PLACEHOLDER.findall(text or "")))


def template_errors(**parts: str) -> dict[str, list[str]]:
    """Per part, why its placeholders cannot be rendered: unknown merge fields or template tags."""
    errors: dict[str, list[str]] = {}
    for part, text in parts.items():
        unknown = [key for key in merge_fields_in(text) if key not in MERGE_FIELD_KEYS]
        messages = [
            f"Unknown merge field {{{{ {key} }}}}; use one of: " + ", ".join(sorted(MERGE_FIELD_KEYS)) + "."
            for key in unknown
        ]
        tag = TEMPLATE_TAG.search(text or "")
        if tag:
            messages.append(
                f"Template tags such as {tag.group(0)} are not supported; "
                "only merge fields like {{ contact.first_name }} are."
            )
        if messages:
            errors[part] = messages
    return errors


def validate_template_parts(**parts: str) -> None:
    """Raise a ValidationError naming each unknown merge field or template tag, per part."""
    errors = template_errors(**parts)
    if errors:
        raise ValidationError(errors)


def merge_values(*, contact=None, deal=None, sender=None, company=None) -> dict[str, str]:
    """Text for every allow-listed merge field; a field of a record not given is empty."""
    records = {"contact": contact, "deal": deal, "sender": sender, "company": company}
    return {
        field.key: "" if records[field.namespace] is None else _text(field.read(records[field.namespace]))
        for field in MERGE_FIELDS
    }


def render_text(text: str, values: dict[str, str], *, html: bool = False) -> str:
    """Substitute allow-listed placeholders in one pass; anything else stays literal text.

    Values are never rendered again (a contact named "{{ sender.email }}" stays so), and in HTML
    they are escaped, so a record cannot inject markup.
    """

    def substitute(match: re.Match) -> str:
        key = _placeholder_key(match.group(1))
        if key not in values:
            return match.group(0)
        return escape(values[key]) if html else values[key]

    return PLACEHOLDER.sub(substitute, text or "")


def one_line(text: str, limit: int) -> str:
    """A header value: no line breaks (header injection), at most `limit` characters."""
    return re.sub(r"[\r\n]+", " ", text).strip()[:limit]


def render_template(template: EmailTemplate, *, contact=None, deal=None, sender=None) -> RenderedEmail:
    """The template's subject and bodies for a contact, a deal and a sender of its company."""
    values = merge_values(contact=contact, deal=deal, sender=sender, company=template.company)
    return RenderedEmail(
        subject=one_line(render_text(template.subject, values), Email._meta.get_field("subject").max_length),
        body_text=render_text(template.body_text, values),
        body_html=render_text(template.body_html, values, html=True) if template.body_html else "",
    )


# Templates


@transaction.atomic
def save_template(template: EmailTemplate, **changes) -> EmailTemplate:
    """Create or change a template: merge fields from the allow-list, a name unique in the company."""
    for field, value in changes.items():
        setattr(template, field, value)
    errors = template_errors(**{part: getattr(template, part) for part in TEMPLATE_PARTS})
    duplicate = EmailTemplate.objects.filter(name__iexact=template.name).exclude(pk=template.pk).exists()
    if duplicate:
        errors["name"] = [f"A template named {template.name!r} already exists."]
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as error:
        # Two requests creating the same name at once: the unique constraint decides.
        raise ValidationError({"name": [f"A template named {template.name!r} already exists."]}) from error
    return template


def delete_template(template: EmailTemplate) -> None:
    """Soft-delete a template unless a campaign that has not finished still uses it."""
    # A campaign still to send would send nothing: kept references are for what already happened.
    unfinished = EmailCampaign.objects.filter(template=template, status__in=EmailCampaign.UNFINISHED)
    in_use = unfinished.first()
    if in_use is not None:
        raise StillReferenced(
            f"Campaign {in_use.name!r} ({in_use.status}) uses this template; "
            "cancel or delete the campaign first.",
            referenced_by={"email_campaigns": unfinished.count()},
        )
    template.soft_delete()


def preview_template(template: EmailTemplate, *, sender, contact=None, deal=None) -> RenderedEmail:
    """The template as it would be sent; the deal's contact stands in when no contact is given."""
    if contact is None and deal is not None:
        contact = deal.contact
    return render_template(template, contact=contact, deal=deal, sender=sender)
