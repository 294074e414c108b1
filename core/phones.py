"""Phone numbers as people type them, stored in E.164 (`+14155550100`), read by Google's libphonenumber.

A number without a country code is read in PHONE_DEFAULT_REGION (`US` unless set). Stored values are
E.164 whatever path wrote them (the API, the admin, the ORM), so search, Twilio and caller look-ups
compare like with like.
"""

import phonenumbers
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from rest_framework import serializers

from .validators import e164

INVALID_MESSAGE = "Enter a valid phone number, e.g. (415) 555-0100 or +44 20 7946 0958."
# The longest typed form accepted: spaces, dashes, dots, brackets and an extension take room.
TYPED_MAX_LENGTH = 40
E164_MAX_LENGTH = 16


def to_e164(typed: str) -> str:
    """The E.164 form of a number as a person typed it; blank stays blank; ValidationError otherwise."""
    text = (typed or "").strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as error:
        raise ValidationError(INVALID_MESSAGE, code="invalid_phone") from error
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(INVALID_MESSAGE, code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _stored_form(value):
    """E.164 when the value reads as a number, else unchanged (a partial number in a search)."""
    if not isinstance(value, str) or not value.strip():
        return value
    try:
        return to_e164(value)
    except ValidationError:
        return value


class PhoneNumberFormField(forms.CharField):
    """A form field taking a number as typed and cleaning it to E.164."""

    def __init__(self, **kwargs):
        kwargs["max_length"] = TYPED_MAX_LENGTH
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("type", "tel")

    def to_python(self, value):
        value = super().to_python(value)
        return to_e164(value) if value else value


class PhoneNumberSerializerField(serializers.CharField):
    """An API field taking a number as typed and answering with its E.164 form."""

    def __init__(self, **kwargs):
        kwargs["max_length"] = TYPED_MAX_LENGTH
        # E.164 is what is stored, not what must be sent: the schema states no E.164 pattern.
        kwargs["validators"] = [v for v in kwargs.get("validators", []) if v is not e164]
        kwargs.setdefault("help_text", "A phone number as typed, e.g. (415) 555-0100; answered in E.164.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return to_e164(value)
        except ValidationError as error:
            raise serializers.ValidationError(error.messages[0], code="invalid_phone") from error


class PhoneNumberField(models.CharField):
    """A phone number column holding E.164, whatever form the number was written in."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", E164_MAX_LENGTH)
        super().__init__(*args, **kwargs)
        if e164 not in self.validators:
            self._validators = [*self._validators, e164]

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == E164_MAX_LENGTH:
            del kwargs["max_length"]
        if kwargs.get("validators") == [e164]:
            del kwargs["validators"]  # added by the field itself
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = _stored_form(getattr(model_instance, self.attname))
        setattr(model_instance, self.attname, value)
        return value

    def get_prep_value(self, value):
        return super().get_prep_value(_stored_form(value))

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": PhoneNumberFormField, **kwargs})
