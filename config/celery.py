"""The Celery application; tasks are found in each app's tasks.py."""

import os

from celery import Celery
from celery.signals import worker_init
from django.core.exceptions import ImproperlyConfigured

from core.checks import refuse_weak_secrets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _refuse_to_start(check) -> None:
    """Run a startup check; a refusal stops the worker (Celery only logs a worker_init handler's error)."""
    try:
        check()
    except ImproperlyConfigured as error:
        raise SystemExit(f"django.core.exceptions.ImproperlyConfigured: {error}") from error


@worker_init.connect
def refuse_weak_secrets_at_worker_start(**kwargs):
    """Workers, like the web processes, refuse a built-in or too short secret with DEBUG off."""
    _refuse_to_start(refuse_weak_secrets)


@worker_init.connect
def refuse_rls_bypass_at_worker_start(**kwargs):
    """Workers, like the web processes, refuse a database role that could bypass row-level security."""
    # This module loads with the settings (config/__init__.py), before the app registry is ready.
    from tenancy.checks import refuse_rls_bypass

    _refuse_to_start(refuse_rls_bypass)
