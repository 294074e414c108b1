"""Celery tasks of messaging; each module's tasks are registered when this package is imported."""

from . import email, sms

__all__ = ["email", "sms"]
