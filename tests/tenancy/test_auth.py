"""Sign in, refresh, sign out and the current user; abused tokens and brute force: test_auth_abuse.py."""

import threading

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tenancy.audit import PLATFORM_SIGN_IN
from tenancy.auth import issue_tokens
from tenancy.models import User

from ..conftest import bearer_client
from ..factories import TEST_PASSWORD, ContactFactory, SuperAdminFactory, UserFactory
from ..unscoped import as_the_platform_unaudited, audit_entries, reload

LOGIN = "/api/auth/login"
REFRESH = "/api/auth/refresh"
LOGOUT = "/api/auth/logout"
ME = "/api/auth/me"
CONTACTS = "/api/contacts"
WRONG_CREDENTIALS = "Email or password is incorrect."

pytestmark = pytest.mark.django_db

both_companies = pytest.mark.parametrize("side", ["a", "b"])


@pytest.fixture
def company_of(request):
    """Look up a company and its owner by side: "a" or "b"."""

    def pick(side):
        return request.getfixturevalue(f"company_{side}"), request.getfixturevalue(f"user_{side}")

    return pick


@pytest.fixture
def contacts(company_a, company_b):
    """One contact in each company, with names that identify the company."""
    return {
        "a": ContactFactory(company=company_a, first_name="Alice", last_name="Ofa"),
        "b": ContactFactory(company=company_b, first_name="Bob", last_name="Ofb"),
    }


def login(email, password=TEST_PASSWORD, *, path=LOGIN, address="127.0.0.1", **extra):
    return APIClient().post(
        path, {"email": email, "password": password}, format="json", REMOTE_ADDR=address, **extra
    )


def refresh(raw):
    return APIClient().post(REFRESH, {"refresh_token": raw}, format="json")


def with_bearer(raw) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@both_companies
def test_login_returns_a_token_pair_bound_to_the_users_company(side, company_of, contacts):
    """Signing in returns a bearer pair whose access token carries the user's company."""
    company, user = company_of(side)

    response = login(user.email)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == int(django_settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())
    assert body["user"]["id"] == str(user.id)
    assert body["user"]["email"] == user.email
    assert body["user"]["company"]["id"] == str(company.id)
    assert AccessToken(body["access_token"])["company_id"] == str(company.id)
    assert RefreshToken(body["refresh_token"])["company_id"] == str(company.id)
    listed = with_bearer(body["access_token"]).get(CONTACTS).json()["results"]
    assert [row["id"] for row in listed] == [str(contacts[side].id)]


def test_login_of_a_super_admin_carries_no_company(super_admin):
    """A platform super admin signs in with a token that names no company."""
    response = login(super_admin.email)

    assert response.status_code == 200
    assert response.json()["user"]["company"] is None
    assert response.json()["user"]["is_platform_admin"] is True
    assert AccessToken(response.json()["access_token"])["company_id"] is None


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/login/"])
def test_login_answers_with_and_without_trailing_slash(path, user_a):
    """Both spellings of the login path sign in, without a redirect."""
    response = login(user_a.email, path=path)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user_a.id)


@both_companies
def test_login_email_is_case_insensitive(side, company_of):
    """The email matches whatever its letter case."""
    _, user = company_of(side)

    response = login(user.email.upper())

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.id)


@pytest.mark.parametrize(
    ("email", "password"),
    [("{email}", "wrong-password"), ("nobody@example.com", TEST_PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_login_refuses_wrong_credentials_with_one_message(email, password, user_a):
    """A wrong password and an unknown email get the same 401, and no sign-in is recorded."""
    response = login(email.format(email=user_a.email), password)

    assert response.status_code == 401
    assert response.json() == {"detail": WRONG_CREDENTIALS}
    assert response["WWW-Authenticate"].startswith("Bearer")
    reload(user_a)
    assert user_a.last_login is None


def test_login_refuses_an_inactive_user(company_a):
    """A deactivated user cannot sign in, even with the right password."""
    user = UserFactory(company=company_a, is_active=False)

    response = login(user.email)

    assert response.status_code == 401
    assert "access_token" not in response.json()
    assert response.json()["detail"] == WRONG_CREDENTIALS


def test_login_refuses_a_user_of_a_deactivated_company(user_a, user_b, company_a):
    """Users of a deactivated company cannot sign in; the other company's users still can."""
    company_a.is_active = False
    with as_the_platform_unaudited():
        company_a.save()

    refused = login(user_a.email)
    allowed = login(user_b.email)

    assert refused.status_code == 401
    assert "access_token" not in refused.json()
    assert refused.json()["detail"]
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({}, {"email", "password"}),
        ({"email": "someone@example.com"}, {"password"}),
        ({"password": "x"}, {"email"}),
    ],
    ids=["both", "password", "email"],
)
def test_login_reports_each_missing_field(body, missing):
    """A login without email or password gets a 400 naming each missing field."""
    response = APIClient().post(LOGIN, body, format="json")

    assert response.status_code == 400
    assert set(response.json()) == missing


@both_companies
def test_me_returns_the_user_and_company(side, company_of):
    """GET /api/auth/me returns the signed-in user with their company."""
    company, user = company_of(side)

    response = bearer_client(user).get(ME)

    assert response.status_code == 200
    assert response.json()["id"] == str(user.id)
    assert response.json()["email"] == user.email
    assert response.json()["company"] == {"id": str(company.id), "name": company.name, "slug": company.slug}


def test_me_returns_the_phone_where_calls_ring(user_a, user_b):
    """GET /api/auth/me shows each user's own phone, and an empty one as blank."""
    user_a.phone = "+14155550111"
    with as_the_platform_unaudited():
        user_a.save(update_fields=["phone"])

    mine = bearer_client(user_a).get(ME)
    theirs = bearer_client(user_b).get(ME)

    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["phone"] == "+14155550111"
    assert theirs.json()["phone"] == ""


def test_me_without_a_token_is_refused():
    """Without a bearer token the current user is a 401."""
    response = APIClient().get(ME)

    assert response.status_code == 401
    assert "email" not in response.json()


def test_login_and_me_never_return_the_password_hash(user_a):
    """Neither the login response nor /me contain the password or its hash."""
    login_response = login(user_a.email)
    me_response = with_bearer(login_response.json()["access_token"]).get(ME)

    for response in (login_response, me_response):
        assert response.status_code == 200
        assert user_a.password not in response.content.decode()
        assert TEST_PASSWORD not in response.content.decode()
    assert "password" not in login_response.json()["user"]
    assert "password" not in me_response.json()


@both_companies
def test_refresh_rotates_and_the_old_refresh_token_is_refused(side, company_of):
    """A refresh returns a new working pair; reusing the old refresh token is a 401."""
    company, user = company_of(side)
    old = issue_tokens(user)["refresh_token"]

    response = refresh(old)
    reused = refresh(old)

    assert response.status_code == 200
    new = response.json()
    assert new["refresh_token"] != old
    assert AccessToken(new["access_token"])["company_id"] == str(company.id)
    assert with_bearer(new["access_token"]).get(ME).json()["id"] == str(user.id)
    assert reused.status_code == 401
    assert "access_token" not in reused.json()
    assert refresh(new["refresh_token"]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_racing_with_one_token_yield_one_new_pair(user_a):
    """A refresh token refreshes once, even when two requests present it at the same moment."""
    refresh_token = issue_tokens(user_a)["refresh_token"]
    barrier = threading.Barrier(2)
    statuses = []

    def refresh():
        barrier.wait()
        statuses.append(APIClient().post("/api/auth/refresh", {"refresh_token": refresh_token}).status_code)
        connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 401]


def test_refresh_refused_after_the_user_moved_to_another_company(user_a, company_b):
    """A refresh token issued for the user's former company is a 401."""
    old = issue_tokens(user_a)["refresh_token"]
    with as_the_platform_unaudited():
        User.objects.filter(pk=user_a.pk).update(company=company_b)

    response = refresh(old)

    assert response.status_code == 401
    assert "access_token" not in response.json()


def test_refresh_refused_for_an_inactive_user(user_a, user_b):
    """A refresh token of a user deactivated since is a 401; another user's still works."""
    refused = issue_tokens(user_a)["refresh_token"]
    allowed = issue_tokens(user_b)["refresh_token"]
    with as_the_platform_unaudited():
        User.objects.filter(pk=user_a.pk).update(is_active=False)

    assert refresh(refused).status_code == 401
    assert "access_token" not in refresh(refused).json()
    assert refresh(allowed).status_code == 200


@pytest.mark.parametrize("kind", ["garbage", "access-token"])
def test_refresh_refuses_anything_but_a_refresh_token(kind, user_a):
    """Garbage, or an access token in place of a refresh token, is a 401."""
    raw = "not.a.token" if kind == "garbage" else issue_tokens(user_a)["access_token"]

    response = refresh(raw)

    assert response.status_code == 401
    assert "access_token" not in response.json()
    assert response.json()["detail"]


@both_companies
def test_logout_refuses_the_refresh_and_the_access_token_afterwards(side, company_of):
    """After signing out, the refresh token and the access token used are both refused."""
    _, user = company_of(side)
    tokens = issue_tokens(user)
    client = with_bearer(tokens["access_token"])
    assert client.get(ME).status_code == 200

    response = client.post(LOGOUT, {"refresh_token": tokens["refresh_token"]}, format="json")

    assert response.status_code == 204
    assert refresh(tokens["refresh_token"]).status_code == 401
    assert client.get(ME).status_code == 401
    assert client.get(CONTACTS).status_code == 401


def test_logout_with_another_users_refresh_token_is_refused_and_changes_nothing(user_a, user_b):
    """Signing out with someone else's refresh token is a 400, and that token keeps working."""
    mine = issue_tokens(user_a)
    theirs = issue_tokens(user_b)["refresh_token"]
    client = with_bearer(mine["access_token"])

    response = client.post(LOGOUT, {"refresh_token": theirs}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"]
    assert refresh(theirs).status_code == 200
    assert client.get(ME).status_code == 200


def test_logout_without_a_token_is_refused(user_a):
    """Signing out needs the bearer token; without it the refresh token stays valid."""
    tokens = issue_tokens(user_a)

    response = APIClient().post(LOGOUT, {"refresh_token": tokens["refresh_token"]}, format="json")

    assert response.status_code == 401
    assert refresh(tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("sent", ["not-a-token", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "used"])
def test_logout_with_an_invalid_refresh_token_is_a_400_and_the_access_token_keeps_working(sent, user_a):
    """A refresh token that is malformed, forged or already used signs nothing out: a 400, not a 204."""
    tokens = issue_tokens(user_a)
    if sent == "used":
        rotated = refresh(tokens["refresh_token"])
        assert rotated.status_code == 200
        sent = tokens["refresh_token"]
    client = with_bearer(tokens["access_token"])

    response = client.post(LOGOUT, {"refresh_token": sent}, format="json")

    assert response.status_code == 400
    assert "nothing was signed out" in response.json()["detail"]
    assert client.get(ME).status_code == 200


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_me_names_a_company_users_role(role, company_a, company_b):
    """A company user's role is their role in the company."""
    user = UserFactory(company=company_a, role=role)
    assert bearer_client(user).get(ME).json()["role"] == role


def test_me_says_platform_for_a_super_admin_not_owner(company_a):
    """A platform super admin is stored as "owner" of nothing; /me calls that role "platform"."""
    admin = SuperAdminFactory()
    body = bearer_client(admin).get(ME).json()
    assert (body["role"], body["company"], body["is_platform_admin"]) == ("platform", None, True)


def test_the_schema_lists_every_role_me_can_answer():
    """The published schema names the roles: the company roles and platform."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    me = schema["components"]["schemas"]["Me"]["properties"]["role"]
    reference = me.get("$ref") or me["allOf"][0]["$ref"]
    named = schema["components"]["schemas"][reference.split("/")[-1]]["enum"]
    assert sorted(named) == ["admin", "member", "owner", "platform"]


def test_logout_refuses_every_access_token_of_the_sign_in_and_no_other(user_a):
    """Access tokens from before and after a refresh all stop at logout; another sign-in's keep working."""
    first = issue_tokens(user_a)
    rotated = refresh(first["refresh_token"]).json()
    elsewhere = issue_tokens(user_a)
    clients = [with_bearer(tokens["access_token"]) for tokens in (first, rotated, elsewhere)]
    assert [client.get(ME).status_code for client in clients] == [200, 200, 200]

    response = clients[1].post(LOGOUT, {"refresh_token": rotated["refresh_token"]}, format="json")

    assert response.status_code == 204
    assert [client.get(ME).status_code for client in clients] == [401, 401, 200]
    assert refresh(elsewhere["refresh_token"]).status_code == 200


def test_a_super_admin_signs_in_refreshes_and_signs_out_each_step_audited(super_admin, company_a):
    """A platform user's token records live across all companies: each step opens that scope, audited."""
    signed_in = login(super_admin.email)
    assert signed_in.status_code == 200
    assert [entry.path for entry in audit_entries(reason=PLATFORM_SIGN_IN)] == [LOGIN]

    rotated = refresh(signed_in.json()["refresh_token"])
    assert rotated.status_code == 200
    assert refresh(signed_in.json()["refresh_token"]).status_code == 401

    tokens = rotated.json()
    inside_a = with_bearer(tokens["access_token"])
    signed_out = inside_a.post(
        LOGOUT, {"refresh_token": tokens["refresh_token"]}, format="json", HTTP_X_COMPANY_ID=str(company_a.id)
    )
    assert signed_out.status_code == 204
    assert refresh(tokens["refresh_token"]).status_code == 401
    steps = [entry.path for entry in audit_entries(reason=PLATFORM_SIGN_IN)]
    assert steps == [LOGIN, REFRESH, REFRESH, LOGOUT, REFRESH]


def test_every_sign_in_records_the_last_login_in_the_users_own_scope(client, user_a, user_b, super_admin):
    """The API and the admin's login form both write last_login, which only the user's scope may."""
    assert login(user_a.email).status_code == 200
    for user in (user_b, super_admin):
        client.post("/admin/login/", {"username": user.email, "password": TEST_PASSWORD})
        client.logout()
    for user in (user_a, user_b, super_admin):
        reload(user)
        assert user.last_login is not None, user.email


def test_a_wrong_password_without_a_client_address_is_a_401_not_a_500(user_a):
    """A server behind a socket may see no client address: the failure is still counted and refused."""
    response = login(user_a.email, "wrong-password", address=None)

    assert response.status_code == 401
    assert response.json() == {"detail": WRONG_CREDENTIALS}
