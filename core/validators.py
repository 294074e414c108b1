"""Validators shared by every app: phone numbers in their stored form and currency codes."""

from django.core.validators import RegexValidator

from .currencies import iso_4217

e164 = RegexValidator(r"^\+[1-9]\d{1,14}$", "Enter the number in E.164 form, e.g. +14155550100.")
# Models validate currencies against ISO 4217 itself; the API's CurrencyCodeField lists the codes.
currency_code = iso_4217
