"""The Celery application; tasks are found in each app's tasks.py."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def refuse_rls_bypass_at_worker_start(**kwargs):
    """Workers, like the web processes, refuse a database role that could bypass row-level security."""
    # This module loads with the settings (config/__init__.py), before the app registry is ready.
    from tenancy.checks import refuse_rls_bypass

    refuse_rls_bypass()
