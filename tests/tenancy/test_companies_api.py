"""Platform super admins list, create, rename and deactivate companies; company users are refused."""

import re

import pytest
from django.core import mail
from django.test import TestCase
from rest_framework.test import APIClient

from tenancy.models import Company, User

from ..conftest import bearer_client
from ..factories import UserFactory
from ..unscoped import audit_entries, stored

pytestmark = pytest.mark.django_db


def create(client, **body):
    payload = {"name": "Initech", "owner_email": "peter@initech.example", "owner_name": "Peter"} | body
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post("/api/companies", payload, format="json")


def names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["name"] for row in response.json()["results"]}


def test_a_super_admin_lists_every_company_or_the_one_the_header_names(
    company_a, company_b, admin_client_api
):
    """Without X-Company-ID every company; with A's id or slug, A alone."""
    assert names(admin_client_api.get("/api/companies")) == {"Company A", "Company B"}
    assert names(admin_client_api.get("/api/companies", HTTP_X_COMPANY_ID=company_a.slug)) == {"Company A"}
    assert admin_client_api.get(f"/api/companies/{company_b.pk}").json()["slug"] == company_b.slug


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_company_users_are_refused_every_companies_path(company_a, company_b, role):
    """A company's users get 403 on list, read, create and change, and nothing changes."""
    client = bearer_client(UserFactory(company=company_a, role=role))
    for response in (
        client.get("/api/companies"),
        client.get(f"/api/companies/{company_a.pk}"),
        client.get(f"/api/companies/{company_b.pk}"),
        create(client),
        client.patch(f"/api/companies/{company_b.pk}", {"is_active": False}, format="json"),
    ):
        assert response.status_code == 403
        assert list(response.json()) == ["detail"]
        assert "Company B" not in response.content.decode()
    assert stored(Company, company_b.pk).is_active is True
    assert mail.outbox == []


def test_a_super_admin_creates_a_company_and_its_owner_is_invited(
    company_a, company_b, admin_client_api, super_admin
):
    """The new company has an owner with a pending invitation, whose link signs them into that company."""
    response = create(admin_client_api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["slug"], body["is_active"]) == ("Initech", "initech", True)
    assert (body["owner"]["email"], body["owner"]["role"], body["owner"]["invitation_pending"]) == (
        "peter@initech.example",
        "owner",
        True,
    )
    assert stored(User, body["owner"]["id"]).company_id == stored(Company, body["id"]).pk
    assert [entry.reason for entry in audit_entries(actor=super_admin)][-1] == "super admin creates a company"

    token = re.search(r"token=(\S+)", mail.outbox[-1].body).group(1)
    accepted = APIClient().post(
        "/api/auth/accept-invite", {"token": token, "password": "staplers-and-tps-reports"}, format="json"
    )
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["user"]["company"]["id"] == body["id"]


def test_a_taken_slug_or_owner_address_is_a_400_and_creates_nothing(
    company_a, company_b, user_a, admin_client_api
):
    """A slug or an owner's address already in use is a 400 on that field; no company is created."""
    assert create(admin_client_api, slug=company_a.slug).json() == {
        "slug": ["A company with this slug already exists."]
    }
    assert create(admin_client_api, owner_email=user_a.email).json() == {
        "owner_email": ["A user with this email address already exists."]
    }
    assert "slug" in create(admin_client_api, slug="not a slug").json()
    assert names(admin_client_api.get("/api/companies")) == {"Company A", "Company B"}
    assert mail.outbox == []


def test_a_deactivated_company_refuses_its_users_until_reactivated(
    company_a, company_b, user_a, user_b, admin_client_api
):
    """Deactivating A refuses A's users at once and leaves B's alone; reactivating lets A back in."""
    client_a, client_b = bearer_client(user_a), bearer_client(user_b)
    response = admin_client_api.patch(f"/api/companies/{company_a.pk}", {"is_active": False}, format="json")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert client_a.get("/api/contacts").status_code in (401, 403)
    assert client_b.get("/api/contacts").status_code == 200
    renamed = admin_client_api.patch(
        f"/api/companies/{company_a.pk}", {"is_active": True, "name": "A Corp"}, format="json"
    )
    assert renamed.json()["name"] == "A Corp"
    assert client_a.get("/api/contacts").status_code == 200


def test_bad_input_is_a_400_naming_the_field(company_a, company_b, admin_client_api):
    """A missing name, a non-boolean and an unknown id answer 400 and 404, never 500."""
    assert (
        "name"
        in admin_client_api.post("/api/companies", {"owner_email": "x@y.example"}, format="json").json()
    )
    patched = admin_client_api.patch(
        f"/api/companies/{company_a.pk}", {"is_active": "perhaps"}, format="json"
    )
    assert "is_active" in patched.json()
    assert admin_client_api.get("/api/companies/not-a-uuid").status_code == 404
    assert admin_client_api.delete(f"/api/companies/{company_a.pk}").status_code == 405


@pytest.mark.parametrize("word", ["-58800", "yes", "1"])
def test_lists_of_companies_and_users_refuse_a_word_that_is_not_true_or_false(
    admin_client_api, client_a, company_a, company_b, word
):
    """is_active takes true or false only; another word is a 400, not every row."""
    for client, path in [(admin_client_api, "/api/companies"), (client_a, "/api/users")]:
        response = client.get(path, {"is_active": word})
        assert response.status_code == 400, (path, response.content)
        assert response.json()["is_active"] == ["Must be true or false."]
        assert client.get(path, {"is_active": "false"}).json()["count"] == 0
