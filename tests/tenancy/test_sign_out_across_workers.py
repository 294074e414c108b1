"""Sign-out and failed sign-ins hold in every server process, with no Redis: two gunicorn workers."""

import pytest
import requests

from ..factories import TEST_PASSWORD, CompanyFactory, UserFactory
from ..test_concurrency_http import start_server, stop_server

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TRIES = 20
SERVER_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]


def two_sync_workers(port: int) -> list[str]:
    # One thread each and a fresh connection per request: the workers take turns accepting.
    return [
        *("-m", "gunicorn", "config.wsgi:application", "--workers", "2", "--threads", "1"),
        *("--bind", f"127.0.0.1:{port}", "--timeout", "120"),
    ]


@pytest.fixture
def two_workers(tmp_path):
    server, base = start_server(
        "gunicorn-two-workers", tmp_path / "server.log", command=two_sync_workers, DB_CONN_MAX_AGE="0"
    )
    yield base
    stop_server(server)
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_a_signed_out_token_is_refused_by_every_worker(two_workers, settings):
    """After sign-out every request with the old access token is a 401, whichever worker answers it."""
    settings.PASSWORD_HASHERS = SERVER_HASHERS  # the server checks the password with its own hashers
    user = UserFactory(company=CompanyFactory(), email="owner@two-workers.example")
    tokens = requests.post(
        f"{two_workers}/api/auth/login", json={"email": user.email, "password": TEST_PASSWORD}, timeout=60
    ).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}", "Connection": "close"}
    before = [
        requests.get(f"{two_workers}/api/auth/me", headers=bearer, timeout=60).status_code for _ in range(4)
    ]
    signed_out = requests.post(
        f"{two_workers}/api/auth/logout",
        json={"refresh_token": tokens["refresh_token"]},
        headers=bearer,
        timeout=60,
    )

    after = [
        requests.get(f"{two_workers}/api/auth/me", headers=bearer, timeout=60).status_code
        for _ in range(TRIES)
    ]

    assert before == [200] * 4
    assert signed_out.status_code == 204
    assert after == [401] * TRIES


def test_failed_sign_ins_are_counted_across_every_worker(two_workers, settings):
    """The per-address allowance of wrong passwords is one allowance, not one per worker."""
    user = UserFactory(company=CompanyFactory(), email="guessed@two-workers.example")
    allowance = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"].split("/")[0])

    statuses = [
        requests.post(
            f"{two_workers}/api/auth/login",
            json={"email": user.email, "password": f"wrong-{attempt}"},
            headers={"Connection": "close"},
            timeout=60,
        ).status_code
        for attempt in range(allowance + 3)
    ]

    assert statuses == [401] * allowance + [429] * 3
