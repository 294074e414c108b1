"""The record types workflows can watch and change, with the fields they may read and write.

A record type names a model, the fields conditions may test, the fields an update_field action may
set, how to find the record's contact and deal (for e-mail, SMS and merge fields), and the service
that saves it. The sales core registers contact, account and deal; another app extends the
registry with `register(RecordType(...))` from its AppConfig.ready().
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from rest_framework import serializers

from core.api.strict import decimal_pattern
from core.text import is_canonical_uuid
from crm import services as crm_services
from tenancy.scoping import scoped_choices

# A date as JSON carries it, YYYY-MM-DD.
DATE_TEXT = r"^\d{4}-\d{2}-\d{2}$"


class FieldKind:
    """How a field's values are compared and validated."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    REFERENCE = "reference"


KIND_OF_FIELD = {
    models.CharField: FieldKind.TEXT,
    models.TextField: FieldKind.TEXT,
    models.EmailField: FieldKind.TEXT,
    models.URLField: FieldKind.TEXT,
    models.DecimalField: FieldKind.NUMBER,
    models.IntegerField: FieldKind.NUMBER,
    models.PositiveIntegerField: FieldKind.NUMBER,
    models.DateField: FieldKind.DATE,
    models.DateTimeField: FieldKind.DATETIME,
    models.BooleanField: FieldKind.BOOLEAN,
    models.ForeignKey: FieldKind.REFERENCE,
}


@dataclass(frozen=True)
class RecordType:
    """One kind of record a workflow can be triggered by and act on."""

    name: str
    model_label: str
    condition_fields: tuple[str, ...]
    updatable_fields: tuple[str, ...]
    save: Callable[..., object]
    contact_of: Callable[[object], object] = lambda record: None
    deal_of: Callable[[object], object] = lambda record: None
    owner_of: Callable[[object], object] = lambda record: getattr(record, "owner", None)

    @property
    def model(self) -> type[models.Model]:
        return apps.get_model(self.model_label)

    def model_field(self, name: str) -> models.Field:
        return self.model._meta.get_field(name)

    def kind(self, name: str) -> str:
        model_field = self.model_field(name)
        if model_field.choices:
            return FieldKind.CHOICE
        for field_class in type(model_field).__mro__:
            if field_class in KIND_OF_FIELD:
                return KIND_OF_FIELD[field_class]
        return FieldKind.TEXT

    def value_of(self, record, name: str):
        """The record's value of a field as JSON: ids for references, text for numbers and dates."""
        model_field = self.model_field(name)
        return json_value(getattr(record, model_field.attname))

    def get(self, record_id):
        """The current company's live record with this id, or None (another company's id finds nothing)."""
        record_id = parse_uuid(record_id)
        if record_id is None:
            return None
        return self.model.objects.filter(pk=record_id).first()

    def value_schema(self, name: str) -> dict:
        """The JSON values an update_field action may set this field to, as clean_value holds them."""
        model_field = self.model_field(name)
        kind = self.kind(name)
        if kind == FieldKind.REFERENCE:
            schema = {"type": "string", "format": "uuid"}
        elif kind == FieldKind.CHOICE:
            choices = [str(choice) for choice, _ in model_field.choices]
            schema = {"type": "string", "enum": [*choices, ""] if model_field.blank else choices}
        elif kind == FieldKind.NUMBER and isinstance(model_field, models.DecimalField):
            bounds = {
                "min_value": next(
                    (v.limit_value for v in model_field.validators if isinstance(v, MinValueValidator)), None
                ),
                "max_value": next(
                    (v.limit_value for v in model_field.validators if isinstance(v, MaxValueValidator)), None
                ),
            }
            text = serializers.DecimalField(
                max_digits=model_field.max_digits, decimal_places=model_field.decimal_places, **bounds
            )
            schema = {"type": "string", "pattern": decimal_pattern(text)}
        elif kind == FieldKind.DATE:
            schema = {"type": "string", "format": "date"}
        elif kind == FieldKind.TEXT:
            schema = {"type": "string", "maxLength": model_field.max_length or 10_000}
            if not model_field.blank:
                schema["minLength"] = 1
        else:
            raise ImproperlyConfigured(
                f"A workflow cannot set {self.name}.{name}: no schema for its kind {kind}."
            )
        if model_field.null:
            schema = {**schema, "nullable": True}
            if "enum" in schema:
                schema["enum"] = [*schema["enum"], None]  # OpenAPI 3.0: an enum lists null to allow it
        return schema

    def clean_value(self, name: str, value):
        """The value an update_field action would store, validated like the model field (ValidationError).

        Values are held to the JSON type value_schema states: text as text, decimals and dates as
        strings in their one form, ids as UUIDs.
        """
        model_field = self.model_field(name)
        if value is None and not model_field.null:
            raise ValidationError("This field cannot be empty.")
        if value is not None:
            problem = json_type_problem(self.value_schema(name), value)
            if problem:
                raise ValidationError(problem)
        if model_field.many_to_one:
            if value is None:
                return None
            related = model_field.related_model
            related_id = uuid.UUID(value)  # json_type_problem checked its form
            if related is get_user_model():
                exists = scoped_choices(related).filter(pk=related_id).exists()
            else:
                exists = related.objects.filter(pk=related_id).exists()
            if not exists:
                raise ValidationError(f"No {related._meta.verbose_name} of this company has this id.")
            return str(related_id)
        cleaned = model_field.clean(value, None)
        return json_value(cleaned)

    def python_value(self, name: str, value):
        """A cleaned JSON value converted back to what the model field stores."""
        model_field = self.model_field(name)
        if model_field.many_to_one:
            return value
        return model_field.to_python(value)

    def update_kwargs(self, name: str, value) -> dict:
        model_field = self.model_field(name)
        return {model_field.attname: self.python_value(name, value)}


def json_type_problem(schema: dict, value) -> str | None:
    """Why a non-null value is not of the type value_schema states, or None."""
    if not isinstance(value, str):
        return "Give the value as text (a string)."
    if schema.get("format") == "uuid":
        return None if is_canonical_uuid(value) else "Give the id (UUID) of a record of this company."
    if schema.get("format") == "date" and not re.fullmatch(DATE_TEXT, value):
        return "Give the date as YYYY-MM-DD."
    if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
        return 'Give a decimal number as text, such as "1250.00".'
    return None


def json_value(value):
    """A model value as JSON: UUIDs, decimals, dates and times as text; everything else unchanged."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def as_number(value) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def is_number(value) -> bool:
    """A JSON number: an int, float or Decimal, but not a boolean."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def parse_uuid(value) -> uuid.UUID | None:
    """A UUID in any form uuid.UUID reads, from a path, payload or parameter value; None when it is not one.

    Lenient on purpose, where ids are looked up; a value the schema states as `format: uuid` is held
    to core.text.is_canonical_uuid instead.
    """
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


_REGISTRY: dict[str, RecordType] = {}


def register(record_type: RecordType) -> RecordType:
    """Make a record type available to workflows (idempotent for the same name)."""
    _REGISTRY[record_type.name] = record_type
    return record_type


def record_types() -> dict[str, RecordType]:
    return dict(_REGISTRY)


def record_type_named(name: str) -> RecordType | None:
    return record_types().get(name)


def record_type_of(instance) -> RecordType | None:
    """The registered record type of a model instance, or None."""
    label = instance._meta.label
    return next((rt for rt in record_types().values() if rt.model_label == label), None)


def _account_contact(account):
    return account.contacts.order_by("created_at", "pk").first()


def register_sales_core() -> None:
    """Contacts, accounts and deals (called from WorkflowsConfig.ready)."""
    register(
        RecordType(
            name="contact",
            model_label="crm.Contact",
            condition_fields=(
                "first_name",
                "last_name",
                "email",
                "phone",
                "title",
                "account",
                "owner",
                "sms_opted_out",
                "created_at",
            ),
            updatable_fields=("title", "owner", "account"),
            save=crm_services.save_contact,
            contact_of=lambda contact: contact,
        )
    )
    register(
        RecordType(
            name="account",
            model_label="crm.Account",
            condition_fields=("name", "domain", "industry", "phone", "website", "owner", "created_at"),
            updatable_fields=("industry", "owner"),
            save=crm_services.save_account,
            contact_of=_account_contact,
        )
    )
    register(
        RecordType(
            name="deal",
            model_label="crm.Deal",
            condition_fields=(
                "name",
                "stage",
                "amount",
                "currency",
                "expected_close_date",
                "closed_at",
                "owner",
                "contact",
                "account",
                "created_at",
            ),
            updatable_fields=("stage", "amount", "expected_close_date", "owner"),
            save=crm_services.save_deal,
            contact_of=lambda deal: deal.contact,
            deal_of=lambda deal: deal,
        )
    )
