"""Settings read from the environment, the embedded defaults, and CORS for the single-page app."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "db = s.DATABASES['default']; "
    "print(json.dumps({'engine': db['ENGINE'], 'name': str(db['NAME']), "
    "'eager': s.CELERY_TASK_ALWAYS_EAGER, 'email': s.EMAIL_BACKEND, 'cache': s.CACHES['default']['BACKEND'], "
    "'public': s.PUBLIC_BASE_URL, 'debug': s.DEBUG}))"
)


def settings_under(env: dict) -> dict:
    """Load the settings in a fresh interpreter with exactly the given environment variables."""
    clean = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    out = subprocess.run(  # noqa: S603 (runs this interpreter on a fixed probe)
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_embedded_defaults_need_nothing_but_python():
    """With no environment, the CRM runs on SQLite, eager tasks and console e-mail."""
    loaded = settings_under({})
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["name"].endswith("db.sqlite3")
    assert loaded["eager"] is True
    assert loaded["email"] == "django.core.mail.backends.console.EmailBackend"
    assert loaded["cache"].endswith("LocMemCache")
    assert loaded["debug"] is False


def test_production_settings_come_from_the_environment():
    """DATABASE_URL, REDIS_URL and PUBLIC_BASE_URL switch to PostgreSQL, Redis and workers."""
    loaded = settings_under(
        {
            "DATABASE_URL": "postgres://crm:secret@db.internal:5432/crm",
            "REDIS_URL": "redis://cache.internal:6379/0",
            "PUBLIC_BASE_URL": "https://crm.example.com/",
        }
    )
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["name"] == "crm"
    assert loaded["eager"] is False
    assert loaded["cache"].endswith("RedisCache")
    assert loaded["public"] == "https://crm.example.com"


@pytest.mark.django_db
def test_cors_preflight_allows_the_single_page_app(client):
    """A browser on the SPA's origin may send the bearer token and X-Company-ID header."""
    response = client.options(
        "/api/contacts",
        HTTP_ORIGIN="http://localhost:5173",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, x-company-id, content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "http://localhost:5173"
    allowed = response["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "x-company-id" in allowed


@pytest.mark.django_db
def test_cors_refuses_an_unknown_origin(client):
    """Another site's origin gets no CORS grant."""
    response = client.options(
        "/api/contacts",
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )
    assert "Access-Control-Allow-Origin" not in response
