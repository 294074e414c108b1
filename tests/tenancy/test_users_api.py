"""The company's users through the API: pickers read them, owners and admins invite, change and deactivate."""

import re

import pytest
from django.core import mail
from django.test import TestCase

from tenancy.models import User

from ..conftest import bearer_client
from ..factories import UserFactory
from ..unscoped import stored

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "a-long-walk-on-the-pier-2026"


def listed(client, path="/api/users", **headers) -> dict:
    response = client.get(path, **headers)
    assert response.status_code == 200, response.content
    return {row["email"]: row for row in response.json()["results"]}


def committed(send):
    """Answer a request and run what it queued after commit (the invitation's e-mail), as a commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return send()


def invite(client, email, role="member", **headers):
    return committed(
        lambda: client.post(
            "/api/users", {"email": email, "role": role, "full_name": "New Person"}, format="json", **headers
        )
    )


def link_token() -> str:
    """The token of the last invitation e-mailed."""
    return re.search(r"token=(\S+)", mail.outbox[-1].body).group(1)


def accept(token, password=STRONG_PASSWORD):
    from rest_framework.test import APIClient

    return APIClient().post("/api/auth/accept-invite", {"token": token, "password": password}, format="json")


def test_everyone_lists_their_own_companys_users_only(company_a, company_b, user_a, user_b, super_admin):
    """A member of A lists A's users with name, e-mail, role and activity; B's and the platform's stay out."""
    member = UserFactory(company=company_a, role="member", full_name="Mia Member")
    rows = listed(bearer_client(member))
    assert set(rows) == {user_a.email, member.email}
    assert rows[member.email] | {"id": None, "date_joined": None} == {
        "id": None,
        "company": str(company_a.pk),
        "email": member.email,
        "full_name": "Mia Member",
        "role": "member",
        "is_active": True,
        "invitation_pending": False,
        "last_login": None,
        "date_joined": None,
    }
    assert set(listed(bearer_client(user_b))) == {user_b.email}


def test_another_companys_user_is_a_404_and_stays_unchanged(company_a, company_b, user_a, user_b):
    """B's owner can neither read nor change A's user."""
    colleague = UserFactory(company=company_a, role="member")
    client = bearer_client(user_b)
    assert client.get(f"/api/users/{colleague.pk}").status_code == 404
    assert client.patch(f"/api/users/{colleague.pk}", {"is_active": False}, format="json").status_code == 404
    assert client.post(f"/api/users/{colleague.pk}/resend-invitation").status_code == 404
    assert stored(User, colleague.pk).is_active is True


def test_a_member_reads_but_neither_invites_nor_changes(company_a, company_b, user_a):
    """Members get 403 on every write, and nothing is stored or sent."""
    member = UserFactory(company=company_a, role="member")
    client = bearer_client(member)
    assert client.get(f"/api/users/{user_a.pk}").status_code == 200
    response = invite(client, "new@a.example")
    assert response.status_code == 403
    assert "owners and admins" in response.json()["detail"]
    assert client.patch(f"/api/users/{user_a.pk}", {"role": "member"}, format="json").status_code == 403
    assert stored(User, user_a.pk).role == "owner"
    assert listed(bearer_client(user_a)).keys() == {user_a.email, member.email}
    assert mail.outbox == []


def test_an_invited_user_chooses_a_password_once_and_is_signed_in(company_a, company_b, user_a):
    """The owner invites; the e-mail's link sets a password and signs in; the same link then fails."""
    response = invite(bearer_client(user_a), "New@A.example", role="admin")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["email"], body["role"], body["invitation_pending"], body["company"]) == (
        "new@a.example",
        "admin",
        True,
        str(company_a.pk),
    )
    assert mail.outbox[-1].to == ["new@a.example"]
    assert company_a.name in mail.outbox[-1].subject
    token = link_token()

    accepted = accept(token)
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["user"]["email"] == "new@a.example"
    me = bearer_client_from(accepted.json()["access_token"]).get("/api/auth/me")
    assert me.json()["company"]["id"] == str(company_a.pk)
    assert stored(User, body["id"]).check_password(STRONG_PASSWORD)

    again = accept(token, "another-long-pass-phrase-99")
    assert again.status_code == 400
    assert "invalid, used or expired" in again.json()["token"][0]
    assert stored(User, body["id"]).check_password(STRONG_PASSWORD)


def bearer_client_from(access_token):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


def test_password_validators_apply_and_a_refused_password_keeps_the_link(company_a, company_b, user_a):
    """A short or common password is a 400 naming the rule; the link still works afterwards."""
    invite(bearer_client(user_a), "weak@a.example")
    token = link_token()
    weak = accept(token, "123")
    assert weak.status_code == 400
    assert "too short" in weak.json()["password"][0]
    assert accept(token).status_code == 200


def test_an_expired_forged_or_replaced_link_is_refused(company_a, company_b, user_a, settings):
    """Expired, tampered and superseded tokens are 400s that set no password."""
    client = bearer_client(user_a)
    user_id = invite(client, "late@a.example").json()["id"]
    first = link_token()
    assert accept(first[:-2] + "xx").status_code == 400
    assert accept("not-a-token").status_code == 400
    assert committed(lambda: client.post(f"/api/users/{user_id}/resend-invitation")).status_code == 200
    second = link_token()
    assert accept(first).status_code == 400
    settings.INVITE_LINK_DAYS = -1
    assert accept(second).status_code == 400
    assert not stored(User, user_id).has_usable_password()
    settings.INVITE_LINK_DAYS = 7
    assert accept(second).status_code == 200


def test_an_address_taken_in_any_company_cannot_be_invited(company_a, company_b, user_a, user_b):
    """B's owner's address is a 400 on email for A's owner; nothing is sent."""
    response = invite(bearer_client(user_a), user_b.email.upper())
    assert response.status_code == 400
    assert response.json()["email"] == ["A user with this email address already exists."]
    assert mail.outbox == []


def test_an_admin_neither_makes_nor_changes_an_owner(company_a, company_b, user_a):
    """An admin invites members and admins and changes them, but an owner is for owners to make or change."""
    admin = UserFactory(company=company_a, role="admin")
    member = UserFactory(company=company_a, role="member")
    client = bearer_client(admin)
    assert invite(client, "boss@a.example", role="owner").status_code == 403
    assert client.patch(f"/api/users/{member.pk}", {"role": "owner"}, format="json").status_code == 403
    assert client.patch(f"/api/users/{user_a.pk}", {"role": "member"}, format="json").status_code == 403
    assert client.patch(f"/api/users/{user_a.pk}", {"is_active": False}, format="json").status_code == 403
    assert (stored(User, user_a.pk).role, stored(User, user_a.pk).is_active) == ("owner", True)
    assert stored(User, member.pk).role == "member"
    assert mail.outbox == []

    assert client.patch(f"/api/users/{member.pk}", {"role": "admin"}, format="json").json()["role"] == "admin"
    assert invite(client, "helper@a.example", role="admin").status_code == 201


def test_the_last_owner_can_be_neither_demoted_nor_deactivated(company_a, company_b, user_a):
    """With one active owner, demoting or deactivating them is a 400; with a second, it works."""
    client = bearer_client(user_a)
    demoted = client.patch(f"/api/users/{user_a.pk}", {"role": "admin"}, format="json")
    assert demoted.status_code == 400
    assert "last owner" in demoted.json()["role"][0]
    assert client.patch(f"/api/users/{user_a.pk}", {"is_active": False}, format="json").status_code == 400
    assert stored(User, user_a.pk).role == "owner"

    second = UserFactory(company=company_a, role="member")
    assert client.patch(f"/api/users/{second.pk}", {"role": "owner"}, format="json").status_code == 200
    assert client.patch(f"/api/users/{user_a.pk}", {"role": "admin"}, format="json").status_code == 200
    assert stored(User, user_a.pk).role == "admin"


def test_a_deactivated_users_tokens_stop_working(company_a, company_b, user_a):
    """After the owner deactivates a member, the member's bearer token is a 401; reactivating restores it."""
    member = UserFactory(company=company_a, role="member")
    theirs = bearer_client(member)
    assert theirs.get("/api/contacts").status_code == 200
    response = bearer_client(user_a).patch(f"/api/users/{member.pk}", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert theirs.get("/api/contacts").status_code == 401
    assert (
        bearer_client(user_a).patch(f"/api/users/{member.pk}", {"is_active": True}, format="json").status_code
        == 200
    )
    assert theirs.get("/api/contacts").status_code == 200


def test_a_super_admin_reads_every_companys_users_and_writes_inside_one(
    company_a, company_b, user_a, user_b, super_admin
):
    """Without X-Company-ID the super admin lists both companies' users and may not invite; with it, may."""
    client = bearer_client(super_admin)
    assert {user_a.email, user_b.email} <= set(listed(client))
    assert super_admin.email not in listed(client)
    refused = invite(client, "support-made@a.example")
    assert refused.status_code == 400
    assert "X-Company-ID" in refused.json()["detail"]
    assert set(listed(client, HTTP_X_COMPANY_ID=str(company_b.pk))) == {user_b.email}
    made = invite(client, "support-made@b.example", role="owner", HTTP_X_COMPANY_ID=str(company_b.pk))
    assert made.status_code == 201
    assert made.json()["company"] == str(company_b.pk)


def test_bad_input_is_a_400_naming_the_field(company_a, company_b, user_a):
    """An unknown role, a non-boolean and a bad address are 400s on their fields; an unknown id a 404."""
    client = bearer_client(user_a)
    assert "role" in invite(client, "x@a.example", role="king").json()
    assert "email" in invite(client, "not-an-address").json()
    assert (
        "is_active" in client.patch(f"/api/users/{user_a.pk}", {"is_active": "maybe"}, format="json").json()
    )
    assert client.get("/api/users/not-a-uuid").status_code == 404
    assert client.put(f"/api/users/{user_a.pk}", {}, format="json").status_code == 405
    assert client.delete(f"/api/users/{user_a.pk}").status_code == 405
