"""Platform super admins across companies and inside one, X-Company-ID, and the audit log."""

import uuid

import pytest

from crm.models import Contact
from tenancy.context import all_companies, company_context
from tenancy.models import AuditLog

from ..factories import ContactFactory
from ..unscoped import audit_entries, unscoped

CONTACTS = "/api/contacts"

pytestmark = pytest.mark.django_db

both_companies = pytest.mark.parametrize(("side", "other"), [("a", "b"), ("b", "a")])


@pytest.fixture
def companies(company_a, company_b):
    return {"a": company_a, "b": company_b}


@pytest.fixture
def contacts(company_a, company_b):
    """One contact in each company, with names that identify the company."""
    return {
        "a": ContactFactory(company=company_a, first_name="Alice", last_name="Ofa"),
        "b": ContactFactory(company=company_b, first_name="Bob", last_name="Ofb"),
    }


@pytest.fixture
def company_clients(client_a, client_b):
    return {"a": client_a, "b": client_b}


def header(company) -> dict:
    return {"HTTP_X_COMPANY_ID": str(company.id)}


def live_contacts() -> dict:
    """Every company's live contacts by id, read the audited way, mapped to their company id."""
    with all_companies(reason="test inspection"):
        return dict(Contact.objects.values_list("id", "company_id"))


def snapshot(contact) -> dict:
    with company_context(contact.company_id), unscoped():
        return Contact._base_manager.filter(pk=contact.pk).values("first_name", "is_deleted").get()


def test_super_admin_without_header_lists_every_company_with_its_company(
    admin_client_api, super_admin, contacts
):
    """Without X-Company-ID a super admin reads both companies, each row naming its company."""
    response = admin_client_api.get(CONTACTS)

    assert response.status_code == 200
    rows = {row["id"]: row["company"] for row in response.json()["results"]}
    assert rows == {str(contact.id): str(contact.company_id) for contact in contacts.values()}
    (entry,) = audit_entries(action=AuditLog.Action.ALL_COMPANIES, actor=super_admin)
    assert entry.path == CONTACTS
    assert entry.method == "GET"
    assert entry.company is None


@both_companies
def test_super_admin_with_header_sees_only_that_company_and_is_audited(
    side, other, admin_client_api, super_admin, companies, contacts
):
    """With X-Company-ID a super admin reads only that company, and the access is logged."""
    response = admin_client_api.get(CONTACTS, **header(companies[side]))

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(contacts[side].id)]
    assert contacts[other].last_name not in response.content.decode()
    (entry,) = audit_entries(action=AuditLog.Action.COMPANY_ACCESS)
    assert entry.actor == super_admin
    assert entry.company == companies[side]
    assert entry.path == CONTACTS


@pytest.mark.parametrize("method", ["post", "patch", "delete"])
def test_super_admin_writes_without_header_are_refused_and_change_nothing(method, admin_client_api, contacts):
    """A super admin write without X-Company-ID is a 400 naming the header, and nothing changes."""
    before = live_contacts()
    target = contacts["a"]
    path = CONTACTS if method == "post" else f"{CONTACTS}/{target.id}"

    response = getattr(admin_client_api, method)(path, {"first_name": "Written"}, format="json")

    assert response.status_code == 400
    assert "X-Company-ID" in response.json()["detail"]
    assert live_contacts() == before
    assert snapshot(target) == {"first_name": "Alice", "is_deleted": False}


@both_companies
def test_super_admin_with_header_creates_in_that_company(side, other, admin_client_api, companies):
    """A contact a super admin creates lands in the header's company, whatever the body says."""
    body = {"first_name": "Created", "company": str(companies[other].id)}

    response = admin_client_api.post(CONTACTS, body, format="json", **header(companies[side]))

    assert response.status_code == 201
    assert response.json()["company"] == str(companies[side].id)
    assert live_contacts() == {uuid.UUID(response.json()["id"]): companies[side].id}


@both_companies
def test_super_admin_with_header_updates_inside_that_company_only(
    side, other, admin_client_api, companies, contacts
):
    """With X-Company-ID a super admin edits that company's contact; another company's is a 404."""
    own = admin_client_api.patch(
        f"{CONTACTS}/{contacts[side].id}", {"title": "Edited"}, format="json", **header(companies[side])
    )
    foreign = admin_client_api.patch(
        f"{CONTACTS}/{contacts[other].id}", {"first_name": "Edited"}, format="json", **header(companies[side])
    )

    assert own.status_code == 200
    assert own.json()["title"] == "Edited"
    assert foreign.status_code == 404
    assert snapshot(contacts[other])["first_name"] == contacts[other].first_name


@both_companies
def test_super_admin_with_header_deletes_inside_that_company_only(
    side, other, admin_client_api, companies, contacts
):
    """With X-Company-ID a super admin deletes that company's contact; another company's is a 404."""
    foreign = admin_client_api.delete(f"{CONTACTS}/{contacts[other].id}", **header(companies[side]))
    own = admin_client_api.delete(f"{CONTACTS}/{contacts[side].id}", **header(companies[side]))

    assert own.status_code == 204
    assert snapshot(contacts[side])["is_deleted"] is True
    assert foreign.status_code == 404
    assert snapshot(contacts[other])["is_deleted"] is False


@pytest.mark.parametrize(
    "value",
    ["not-a-uuid", str(uuid.uuid4()), "no slug!", "x" * 81],
    ids=["unknown-slug", "unknown-company", "not-a-slug", "too-long-for-a-slug"],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_super_admin_header_naming_no_company_is_refused_without_data(
    value, method, admin_client_api, contacts
):
    """An X-Company-ID that is no company's id is a 400 with only a detail, and nothing is created."""
    before = live_contacts()

    response = getattr(admin_client_api, method)(
        CONTACTS, {"first_name": "Created"}, format="json", HTTP_X_COMPANY_ID=value
    )

    assert response.status_code == 400
    assert list(response.json()) == ["detail"]
    assert "X-Company-ID" in response.json()["detail"]
    assert live_contacts() == before


@both_companies
@pytest.mark.parametrize("action", ["list", "retrieve", "create"])
def test_company_user_naming_another_company_is_forbidden_without_data(
    action, side, other, company_clients, companies, contacts
):
    """A company user's X-Company-ID of another company is a 403 with no data, and writes nothing."""
    before = live_contacts()
    client, foreign = company_clients[side], header(companies[other])

    if action == "list":
        response = client.get(CONTACTS, **foreign)
    elif action == "retrieve":
        response = client.get(f"{CONTACTS}/{contacts[other].id}", **foreign)
    else:
        response = client.post(CONTACTS, {"first_name": "Created"}, format="json", **foreign)

    assert response.status_code == 403
    assert "results" not in response.json()
    assert list(response.json()) == ["detail"]
    for contact in contacts.values():
        assert contact.last_name not in response.content.decode()
    assert live_contacts() == before


@both_companies
def test_company_user_naming_their_own_company_works_normally(
    side, other, company_clients, companies, contacts
):
    """A company user's X-Company-ID of their own company reads and writes as without it."""
    client, own = company_clients[side], header(companies[side])

    listed = client.get(CONTACTS, **own)
    created = client.post(CONTACTS, {"first_name": "Created"}, format="json", **own)

    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [str(contacts[side].id)]
    assert created.status_code == 201
    assert live_contacts()[uuid.UUID(created.json()["id"])] == companies[side].id


@both_companies
def test_company_users_requests_write_no_audit_log(side, other, company_clients, companies, contacts):
    """Company users acting in their own company leave no cross-company audit entries."""
    client = company_clients[side]

    responses = [
        client.get(CONTACTS),
        client.get(CONTACTS, **header(companies[side])),
        client.get(f"{CONTACTS}/{contacts[side].id}"),
        client.post(CONTACTS, {"first_name": "Created"}, format="json"),
        client.patch(f"{CONTACTS}/{contacts[side].id}", {"title": "Edited"}, format="json"),
    ]

    assert [response.status_code for response in responses] == [200, 200, 200, 201, 200]
    assert not audit_entries()


def test_a_super_admin_has_no_company_and_the_schema_says_it_may_be_null(admin_client_api):
    """/me answers company null for a platform super admin, as the published schema allows."""
    me = admin_client_api.get("/api/auth/me")
    schema = admin_client_api.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]

    assert me.status_code == 200, me.content
    assert me.json()["company"] is None and me.json()["is_platform_admin"] is True
    assert schema["Me"]["properties"]["company"]["nullable"] is True


def slug_header(company) -> dict:
    return {"HTTP_X_COMPANY_ID": company.slug}


@both_companies
def test_super_admin_may_name_a_company_by_its_slug(
    side, other, admin_client_api, super_admin, companies, contacts
):
    """A slug in X-Company-ID acts inside that company as its id does, audited with the company's id."""
    listed = admin_client_api.get(CONTACTS, **slug_header(companies[side]))
    created = admin_client_api.post(
        CONTACTS, {"first_name": "Made"}, format="json", **slug_header(companies[side])
    )

    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [str(contacts[side].id)]
    assert created.status_code == 201
    assert live_contacts()[uuid.UUID(created.json()["id"])] == companies[side].id
    entries = audit_entries(action=AuditLog.Action.COMPANY_ACCESS)
    assert [(entry.actor, entry.company) for entry in entries] == [(super_admin, companies[side])] * 2


@both_companies
def test_company_user_naming_another_company_by_slug_gets_the_same_403(
    side, other, company_clients, companies, contacts
):
    """Another company's slug is the 403 another company's id is, with no data; their own slug works."""
    client = company_clients[side]
    by_id = client.get(CONTACTS, **header(companies[other]))
    by_slug = client.get(CONTACTS, **slug_header(companies[other]))
    unknown = client.get(CONTACTS, HTTP_X_COMPANY_ID="no-such-company")

    assert by_slug.status_code == unknown.status_code == by_id.status_code == 403
    assert by_slug.json() == unknown.json() == by_id.json()
    assert contacts[other].last_name not in by_slug.content.decode()
    own = client.get(CONTACTS, **slug_header(companies[side]))
    assert [row["id"] for row in own.json()["results"]] == [str(contacts[side].id)]
    assert audit_entries() == []
