"""Validators shared by every app: phone numbers and currency codes."""

from django.core.validators import RegexValidator

e164 = RegexValidator(r"^\+[1-9]\d{1,14}$", "Enter the number in E.164 form, e.g. +14155550100.")
currency_code = RegexValidator(r"^[A-Z]{3}$", "Enter a three-letter ISO 4217 currency code, e.g. USD.")
