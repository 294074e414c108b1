"""WSGI entry point (gunicorn config.wsgi); refuses to start as a database role that could bypass RLS."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from tenancy.checks import refuse_rls_bypass  # noqa: E402  (needs the configured apps)

refuse_rls_bypass()
