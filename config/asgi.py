"""ASGI entry point (uvicorn config.asgi).

It refuses to start with a guessable secret (core.checks) or as a database role that could
bypass row-level security (tenancy.checks).
"""

import os

from django.core.asgi import get_asgi_application

from core.checks import refuse_weak_secrets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
refuse_weak_secrets()
application = get_asgi_application()

from tenancy.checks import refuse_rls_bypass  # noqa: E402  (needs the configured apps)

refuse_rls_bypass()
