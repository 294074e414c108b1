"""Celery tasks of messaging; each module's tasks are registered when this package is imported."""

from . import campaigns, email, sms

__all__ = ["campaigns", "email", "sms"]
