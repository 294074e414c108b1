"""Currency codes of ISO 4217 (pycountry's copy of the standard), checked wherever an amount is stored."""

import pycountry
from django.core.exceptions import ValidationError
from rest_framework import serializers

ISO_4217_CODES = tuple(sorted(currency.alpha_3 for currency in pycountry.currencies))
_KNOWN = frozenset(ISO_4217_CODES)
UNKNOWN_MESSAGE = "Enter an ISO 4217 currency code, e.g. USD or EUR."


def iso_4217(value: str) -> None:
    """Refuse a code that is not an ISO 4217 currency (three letters are not enough: XYZ is none)."""
    if value not in _KNOWN:
        raise ValidationError(UNKNOWN_MESSAGE, code="unknown_currency")


class CurrencyCodeField(serializers.ChoiceField):
    """An ISO 4217 code, upper-cased first so "usd" is stored "USD"; the schema lists every code."""

    default_error_messages = {"invalid_choice": UNKNOWN_MESSAGE}

    def __init__(self, **kwargs):
        super().__init__(choices=ISO_4217_CODES, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)
