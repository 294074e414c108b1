"""ASGI entry point; refuses to start as a database role that could bypass RLS."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

from tenancy.checks import refuse_rls_bypass  # noqa: E402  (needs the configured apps)

refuse_rls_bypass()
