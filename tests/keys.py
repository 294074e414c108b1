"""The keys a test hands to a server or worker it starts: this process's own, so both sign alike."""

import pytest
from django.conf import settings

from core.checks import weak_secret_problems


def server_keys() -> dict[str, str]:
    """SECRET_KEY, JWT_SIGNING_KEY and FIELD_ENCRYPTION_KEYS of this process, for a subprocess."""
    # With DEBUG off a server or worker refuses a built-in or short key (core.checks); say so here
    # rather than as a server that never answers.
    problems = weak_secret_problems(settings)
    if problems:
        pytest.fail(
            "A server or worker with DEBUG off would refuse this test run's keys: "
            f"{'; '.join(why for _, why in problems)}. Export a SECRET_KEY of 50 characters or more "
            "(`make test` exports the clone's .local/secret_key, from scripts/local_secret_key.py).",
            pytrace=False,
        )
    return {
        "SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
    }
