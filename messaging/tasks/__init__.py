"""Celery tasks of messaging; each module's tasks are registered when this package is imported."""

from . import email, outbox, sms

__all__ = ["email", "outbox", "sms"]
