"""Refuse to serve with a secret that is the built-in development key or too short to resist guessing.

SECRET_KEY signs sessions, file and signing links; JWT_SIGNING_KEY (SIMPLE_JWT's SIGNING_KEY) signs
bearer tokens; FIELD_ENCRYPTION_KEYS encrypt secrets at rest. The last two fall back to SECRET_KEY, so
a known SECRET_KEY lets anyone forge a super admin's token and decrypt every company's Twilio tokens.
"""

import base64
import binascii

from django.conf import settings as django_settings
from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured

# The key config/settings.py falls back to: public, so good for a local first run only.
DEVELOPMENT_SECRET_KEY = "insecure-local-development-key-change-me-in-production"  # noqa: S105 (public on purpose)
# Django's own rule for SECRET_KEY (security.W009), also applied to encryption passphrases.
SECRET_KEY_MIN_LENGTH = 50
MIN_UNIQUE_CHARACTERS = 5
# HS256 wants a key at least as long as its hash output (RFC 7518, section 3.2).
JWT_KEY_MIN_BYTES = 32
FERNET_KEY_BYTES = 32
CHECK_IDS = {"SECRET_KEY": "core.E001", "JWT_SIGNING_KEY": "core.E002", "FIELD_ENCRYPTION_KEYS": "core.E003"}

FIX_HINT = (
    "Set the setting named in the environment of every web and worker process to a long random value "
    "(SECRET_KEY 50 characters or more; JWT_SIGNING_KEY 32 bytes or more; each FIELD_ENCRYPTION_KEYS "
    "entry a Fernet key or 50 characters or more), e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`. JWT_SIGNING_KEY and "
    "FIELD_ENCRYPTION_KEYS may stay unset: they then derive from SECRET_KEY. See docs/DEPLOY.md, "
    "Environment; `make run` makes a local key of its own."
)


def _guessable(value: str) -> str | None:
    """Why a secret is the built-in key or a development placeholder of Django's, else None."""
    if value == DEVELOPMENT_SECRET_KEY:
        return "is the built-in development key"
    if value.startswith("django-insecure-"):
        return "is a development key made by startproject (django-insecure-...)"
    return None


def _short(value: str, size: int, minimum: int, unit: str) -> str | None:
    """Why a secret of this size is too short or too repetitive, else None."""
    if size < minimum:
        return f"has {size} {unit}, fewer than {minimum}"
    if len(set(value)) < MIN_UNIQUE_CHARACTERS:
        return f"has fewer than {MIN_UNIQUE_CHARACTERS} distinct characters"
    return None


def _is_fernet_key(value: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(value.encode())) == FERNET_KEY_BYTES
    except (binascii.Error, ValueError):
        return False


def _secret_key_problem(value: str) -> str | None:
    return _guessable(value) or _short(value, len(value), SECRET_KEY_MIN_LENGTH, "characters")


def _jwt_key_problem(value: str) -> str | None:
    return _guessable(value) or _short(value, len(value.encode()), JWT_KEY_MIN_BYTES, "bytes")


def _encryption_key_problem(value: str) -> str | None:
    # A Fernet key (Fernet.generate_key(): 32 random bytes) is used as is; any other string is a
    # passphrase hashed into one (core.encryption), so it needs SECRET_KEY's length.
    if _is_fernet_key(value):
        return _guessable(value) or _short(value, FERNET_KEY_BYTES, FERNET_KEY_BYTES, "bytes")
    return _secret_key_problem(value)


def weak_secret_problems(settings) -> list[tuple[str, str]]:
    """(setting, why) for each built-in or too short secret; one derived from SECRET_KEY is judged with it."""
    secret_key = settings.SECRET_KEY
    jwt_key = settings.SIMPLE_JWT["SIGNING_KEY"]
    encryption_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    problems = []
    problem = _secret_key_problem(secret_key)
    if problem:
        uses = []
        if jwt_key == secret_key:
            uses.append("signs bearer tokens (JWT_SIGNING_KEY is unset)")
        if secret_key in encryption_keys:
            uses.append("encrypts stored secrets (FIELD_ENCRYPTION_KEYS is unset)")
        also = f"; it also {' and '.join(uses)}" if uses else ""
        problems.append(("SECRET_KEY", f"SECRET_KEY {problem}{also}"))
    if jwt_key != secret_key and (problem := _jwt_key_problem(jwt_key)):
        problems.append(("JWT_SIGNING_KEY", f"JWT_SIGNING_KEY {problem}"))
    if not encryption_keys:
        problems.append(("FIELD_ENCRYPTION_KEYS", "FIELD_ENCRYPTION_KEYS is empty"))
    for position, key in enumerate(encryption_keys, start=1):
        if key != secret_key and (problem := _encryption_key_problem(key)):
            problems.append(("FIELD_ENCRYPTION_KEYS", f"FIELD_ENCRYPTION_KEYS key {position} {problem}"))
    return problems


def refuse_weak_secrets(settings=django_settings) -> None:
    """Raise ImproperlyConfigured at startup when settings with DEBUG off carry a guessable secret."""
    if settings.DEBUG:
        return
    problems = weak_secret_problems(settings)
    if problems:
        raise ImproperlyConfigured(
            f"Refusing to start with DEBUG off: {'; '.join(why for _, why in problems)}. {FIX_HINT}"
        )


def check_secrets(app_configs=None, **kwargs):
    """Deploy check (`manage.py check --deploy`): no secret is built in or too short."""
    if django_settings.DEBUG:
        return []
    return [
        Error(f"{why}.", hint=FIX_HINT, id=CHECK_IDS[setting])
        for setting, why in weak_secret_problems(django_settings)
    ]
