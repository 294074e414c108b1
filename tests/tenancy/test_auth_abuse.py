"""Authentication abuse, as one matrix: forged, stale and revoked tokens on data endpoints, login brute
force, and secrets (passwords, Twilio tokens, workflow secrets) kept out of responses and logs.

Sign-in, refresh and sign-out themselves are tested in test_auth.py; its helpers are reused here.
"""

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from crm.models import Contact
from messaging.models import TwilioSettings
from tenancy.auth import issue_tokens
from tenancy.context import company_context
from tenancy.models import User
from workflows.models import Workflow

from ..conftest import bearer_client
from ..factories import ContactFactory, PhoneNumberFactory
from ..fakes import twilio_signature
from ..unscoped import as_the_platform_unaudited
from .test_auth import login, refresh, with_bearer

pytestmark = pytest.mark.django_db

CONTACTS = "/api/contacts"


@pytest.fixture
def contacts(company_a, company_b):
    """One contact in each company, with names that identify the company."""
    return {
        "a": ContactFactory(company=company_a, first_name="Alice", last_name="Ofa"),
        "b": ContactFactory(company=company_b, first_name="Bob", last_name="Ofb"),
    }


def access_payload(user) -> dict:
    return dict(AccessToken(issue_tokens(user)["access_token"]).payload)


def signed(payload, key=None, algorithm="HS256") -> str:
    return jwt.encode(payload, key or django_settings.SIMPLE_JWT["SIGNING_KEY"], algorithm=algorithm)


def b64url(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# The tokens an attacker holds. Each takes A's owner and company B, and returns the raw bearer token;
# the stale ones change the database after the token was issued, as the attack would.


def _alg_none(user_a, company_b):
    return jwt.encode(access_payload(user_a), None, algorithm="none")


def _alg_none_by_hand(user_a, company_b):
    return f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(access_payload(user_a))}."


def _wrong_signing_key(user_a, company_b):
    return signed(access_payload(user_a), key="a-key-the-server-never-used-0123456789")


def _company_swapped_and_resigned_with_the_real_key(user_a, company_b):
    return signed({**access_payload(user_a), "company_id": str(company_b.id)})


def _company_swapped_without_resigning(user_a, company_b):
    header, _, signature = issue_tokens(user_a)["access_token"].split(".")
    return f"{header}.{b64url({**access_payload(user_a), 'company_id': str(company_b.id)})}.{signature}"


def _expired(user_a, company_b):
    token = AccessToken(issue_tokens(user_a)["access_token"])
    token.set_exp(lifetime=-timedelta(seconds=1))
    return str(token)


def _expired_by_payload(user_a, company_b):
    past = int((datetime.now(tz=UTC) - timedelta(minutes=1)).timestamp())
    return signed({**access_payload(user_a), "exp": past})


def _no_company_claim(user_a, company_b):
    payload = access_payload(user_a)
    del payload["company_id"]
    return signed(payload)


def _refresh_token_as_bearer(user_a, company_b):
    return issue_tokens(user_a)["refresh_token"]


def _refresh_token_reused_after_rotation(user_a, company_b):
    old = issue_tokens(user_a)["refresh_token"]
    assert refresh(old).status_code == 200
    reused = refresh(old)
    assert reused.status_code == 401 and "access_token" not in reused.json()
    return old


def _user_moved_to_another_company(user_a, company_b):
    raw = issue_tokens(user_a)["access_token"]
    with as_the_platform_unaudited():
        User.objects.filter(pk=user_a.pk).update(company=company_b)
    return raw


def _user_deactivated(user_a, company_b):
    raw = issue_tokens(user_a)["access_token"]
    with as_the_platform_unaudited():
        User.objects.filter(pk=user_a.pk).update(is_active=False)
    return raw


def _company_deactivated(user_a, company_b):
    raw = issue_tokens(user_a)["access_token"]
    user_a.company.is_active = False
    with as_the_platform_unaudited():
        user_a.company.save()
    return raw


ABUSED_TOKENS = [
    _alg_none,
    _alg_none_by_hand,
    _wrong_signing_key,
    _company_swapped_and_resigned_with_the_real_key,
    _company_swapped_without_resigning,
    _expired,
    _expired_by_payload,
    _no_company_claim,
    _refresh_token_as_bearer,
    _refresh_token_reused_after_rotation,
    _user_moved_to_another_company,
    _user_deactivated,
    _company_deactivated,
]

# Data endpoints, and what A's genuine token gets from each: the twin every refusal is measured against.
ENDPOINTS = {
    "list": ("get", lambda c: CONTACTS, 200),
    "retrieve-own": ("get", lambda c: f"{CONTACTS}/{c['a'].id}", 200),
    "retrieve-other": ("get", lambda c: f"{CONTACTS}/{c['b'].id}", 404),
    "create": ("post", lambda c: CONTACTS, 201),
    "me": ("get", lambda c: "/api/auth/me", 200),
}
NEW_CONTACT = {"first_name": "Mallory", "last_name": "Intruder"}


def call(client, endpoint, contacts):
    method, path, _ = ENDPOINTS[endpoint]
    if method == "post":
        return client.post(path(contacts), NEW_CONTACT, format="json")
    return client.get(path(contacts))


def contact_names(*companies) -> list[str]:
    names = []
    for company in companies:
        with company_context(company):
            names += sorted(Contact.objects.values_list("last_name", flat=True))
    return names


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_genuine_token_reaches_each_data_endpoint(endpoint, user_a, company_a, company_b, contacts):
    """The baseline: A's real token reads and writes A's data, and B's contact is a 404."""
    response = call(bearer_client(user_a), endpoint, contacts)

    assert response.status_code == ENDPOINTS[endpoint][2], response.content
    assert "Ofb" not in response.content.decode()


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("forge", ABUSED_TOKENS, ids=lambda forge: forge.__name__.lstrip("_"))
def test_abused_tokens_are_refused_with_no_data_and_no_change(
    forge, endpoint, user_a, company_a, company_b, contacts
):
    """Forged, expired, revoked and stale tokens get a 401 on every data endpoint, and change nothing."""
    raw = forge(user_a, company_b)
    before = contact_names(company_a, company_b)

    response = call(with_bearer(raw), endpoint, contacts)

    assert response.status_code == 401, response.content
    body = response.json()
    assert body["detail"] and not {"results", "id", "email", "company"} & set(body)
    text = response.content.decode()
    for contact in contacts.values():
        assert contact.last_name not in text and str(contact.id) not in text
    assert user_a.email not in text
    assert contact_names(company_a, company_b) == before


# Login brute force


@pytest.fixture
def login_rate_three_per_minute(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"login": "3/min"}}


@pytest.mark.usefixtures("login_rate_three_per_minute")
def test_fourth_attempt_from_one_address_is_throttled_even_with_the_right_password(user_a):
    """After three attempts from one address, on any accounts, the fourth is a 429 and returns no token."""
    for index in range(3):
        assert login(f"guess{index}@example.com", "wrong-password", address="10.0.0.1").status_code == 401

    response = login(user_a.email, address="10.0.0.1")

    assert response.status_code == 429
    assert "access_token" not in response.json()
    assert response.json()["detail"]
    assert int(response["Retry-After"]) > 0


@pytest.fixture
def account_rate_five_per_minute(settings):
    rates = {"login": "3/min", "login_account": "5/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.mark.usefixtures("account_rate_five_per_minute")
def test_failures_on_one_account_are_throttled_across_addresses_at_the_higher_limit(user_a):
    """Guessing one account's password from many addresses meets the per-account limit, not before."""
    for index in range(5):
        assert login(user_a.email, "wrong-password", address=f"10.0.1.{index}").status_code == 401

    response = login(user_a.email.upper(), address="10.0.1.99")

    assert response.status_code == 429
    assert "access_token" not in response.json()
    assert int(response["Retry-After"]) > 0


@pytest.mark.usefixtures("login_rate_three_per_minute")
def test_guessing_one_account_from_one_address_stays_slow(user_a):
    """Three wrong passwords from one address: the fourth attempt there, even the right one, is a 429."""
    for _ in range(3):
        assert login(user_a.email, "wrong-password", address="10.0.4.1").status_code == 401

    assert login(user_a.email, address="10.0.4.1").status_code == 429


def test_a_stranger_with_eleven_wrong_passwords_cannot_lock_the_owner_out(user_a):
    """11 wrong passwords from 11 addresses (default rates): the owner still signs in from a new address."""
    for index in range(11):
        assert login(user_a.email, "wrong-password", address=f"10.0.5.{index}").status_code == 401

    response = login(user_a.email, address="10.0.5.200")

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user_a.id)


@pytest.mark.usefixtures("login_rate_three_per_minute")
def test_successful_sign_ins_are_never_counted(user_a):
    """Ten sign-ins with the right password from one address, over a limit of three: every one works."""
    answers = [login(user_a.email, address="10.0.6.1").status_code for _ in range(10)]

    assert answers == [200] * 10


@pytest.mark.usefixtures("login_rate_three_per_minute")
def test_another_account_from_another_address_is_not_throttled(user_a, user_b):
    """One throttled account and address leave other users signing in from elsewhere untouched."""
    for _ in range(4):
        login(user_a.email, "wrong-password", address="10.0.2.1")
    assert login(user_a.email, address="10.0.2.1").status_code == 429

    response = login(user_b.email, address="10.0.2.2")

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user_b.id)


@pytest.mark.usefixtures("login_rate_three_per_minute")
def test_a_forged_forwarded_for_header_does_not_reset_the_address_limit(user_b):
    """A client cannot dodge the address limit by sending a fresh X-Forwarded-For each time."""
    for index in range(3):
        attempt = login(
            f"guess{index}@example.com", "wrong", address="10.0.3.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{index}"
        )
        assert attempt.status_code == 401

    response = login(user_b.email, address="10.0.3.1", HTTP_X_FORWARDED_FOR="192.0.2.200")

    assert response.status_code == 429
    assert "access_token" not in response.json()


# Secrets in responses and logs

PASSWORD = "Correct-Horse-Login-7f3a9c"
WRONG_GUESS = "Guessed-Password-b81d04"
ACCOUNT_SID = "AC" + "5e" * 16
TWILIO_TOKEN = "1f0e2d3c4b5a69788796a5b4c3d2e1f0"
ROTATED_TWILIO_TOKEN = "a9b8c7d6e5f4031221304f5e6d7c8b9a"
FERNET_PREFIX = "gAAAAA"  # Every Fernet token starts with its version byte and timestamp.


@pytest.fixture
def every_log_record(caplog):
    """Every logger at DEBUG, SQL statements logged with their parameters, into caplog."""
    names = ["", "django", "django.request", "django.db.backends", *logging.root.manager.loggerDict]
    for name in names:
        caplog.set_level(logging.DEBUG, logger=name)
    closed = [
        logger
        for logger in map(logging.getLogger, names)
        if not logger.propagate and caplog.handler not in logger.handlers
    ]
    for logger in closed:
        logger.addHandler(caplog.handler)
    connection.force_debug_cursor = True
    yield caplog
    connection.force_debug_cursor = False
    for logger in closed:
        logger.removeHandler(caplog.handler)


def record_text(record: logging.LogRecord) -> str:
    """All a log record carries: its message, arguments, extra attributes and traceback."""
    return f"{record.getMessage()} {vars(record)!r}"


def hook_signature(secret: str, body: bytes, delivery_id: str) -> str:
    """X-CRM-Signature of an inbound workflow hook signed now (docs/WORKFLOWS.md)."""
    timestamp = int(time.time())
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return f"t={timestamp},v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def test_secrets_never_appear_in_responses_or_logs(
    every_log_record, user_a, company_a, company_b, twilio_fake, settings
):
    """Passwords, Twilio tokens and workflow secrets stay out of every response and log record.

    The one exception is on purpose: the workflow secret endpoints (GET .../secret and POST
    .../rotate-secret) show the secret to the workflow's owner or a company manager, who must hand it
    to the webhook's sender.
    """
    settings.PUBLIC_BASE_URL = "http://testserver"
    user_a.set_password(PASSWORD)
    with as_the_platform_unaudited():
        user_a.save()
    number = PhoneNumberFactory(company=company_a, user=user_a, number="+12025550177")
    every_log_record.clear()
    responses, secret_responses = [], []

    responses.append(login(user_a.email, WRONG_GUESS))
    responses.append(login(user_a.email, PASSWORD))
    client = with_bearer(responses[-1].json()["access_token"])
    created = client.post(
        "/api/twilio-settings", {"account_sid": ACCOUNT_SID, "auth_token": TWILIO_TOKEN}, format="json"
    )
    responses.append(created)
    settings_url = f"/api/twilio-settings/{created.json()['id']}"
    twilio_fake.accounts[ACCOUNT_SID] = "not-the-stored-token"
    responses.append(client.post(f"{settings_url}/test-connection"))
    responses.append(client.patch(settings_url, {"auth_token": ROTATED_TWILIO_TOKEN}, format="json"))
    twilio_fake.accounts[ACCOUNT_SID] = ROTATED_TWILIO_TOKEN
    responses.append(client.post(f"{settings_url}/test-connection"))
    responses.append(client.get(settings_url))
    inbound = {
        "MessageSid": "SM" + "7" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": "+16175550123",
        "To": number.number,
        "Body": "hello",
    }
    path = "/api/twilio/sms/inbound"
    signature = twilio_signature(path, inbound, ROTATED_TWILIO_TOKEN)
    responses.append(Client().post(path, inbound, HTTP_X_TWILIO_SIGNATURE=signature))
    forged = twilio_signature(path, inbound, TWILIO_TOKEN)
    responses.append(
        Client().post(path, {**inbound, "MessageSid": "SM" + "8" * 32}, HTTP_X_TWILIO_SIGNATURE=forged)
    )
    workflow = client.post(
        "/api/workflows",
        {
            "name": "Leads",
            "trigger": "webhook",
            "actions": [{"type": "create_notification", "params": {"title": "Lead"}}],
        },
        format="json",
    )
    responses.append(workflow)
    with company_context(company_a):
        first_secret = Workflow.objects.get(pk=workflow.json()["id"]).secret
    secret_responses.append(client.post(f"/api/workflows/{workflow.json()['id']}/rotate-secret"))
    rotated_secret = secret_responses[-1].json()["secret"]
    hook = f"/api/public/workflows/{workflow.json()['id']}/hook"
    body = b'{"email": "lead@example.com"}'
    for delivery, secret in enumerate((rotated_secret, first_secret)):
        responses.append(
            Client().post(
                hook,
                body,
                content_type="application/json",
                HTTP_X_CRM_SIGNATURE=hook_signature(secret, body, f"evt-{delivery}"),
                HTTP_X_CRM_DELIVERY=f"evt-{delivery}",
            )
        )

    assert [r.status_code for r in responses] == [401, 200, 201, 200, 200, 200, 200, 200, 403, 201, 202, 403]
    assert secret_responses[0].status_code == 200 and rotated_secret != first_secret
    secrets = [PASSWORD, WRONG_GUESS, TWILIO_TOKEN, ROTATED_TWILIO_TOKEN, first_secret, rotated_secret]
    for response in responses:
        for secret in secrets:
            assert secret not in response.content.decode(), f"{response.request['PATH_INFO']} shows a secret"
    for secret in [PASSWORD, WRONG_GUESS, TWILIO_TOKEN, ROTATED_TWILIO_TOKEN, first_secret]:
        assert secret not in secret_responses[0].content.decode()
    records = every_log_record.records
    for record in records:
        for secret in secrets:
            assert secret not in record_text(record), (
                f"{record.name} logged a secret: {record.getMessage()[:300]}"
            )
    sql = [record_text(r) for r in records if r.name == "django.db.backends"]
    writes = [
        text
        for text in sql
        if ("INSERT" in text or "UPDATE" in text) and ('"auth_token"' in text or '"secret"' in text)
    ]
    # The create and change of the Twilio token, and the workflow's first and rotated secret.
    assert len(writes) == 4, "SQL statements were not logged with their parameters"
    assert all(text.count(FERNET_PREFIX) >= 2 for text in writes), "a secret was written unencrypted"
    with company_context(company_a):
        assert TwilioSettings.objects.get().auth_token == ROTATED_TWILIO_TOKEN
