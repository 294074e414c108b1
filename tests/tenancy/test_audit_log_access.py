"""A company's owners and admins read the audit entries about their company, in the API and the admin."""

import pytest
from django.test import Client

from tenancy.audit import SUPER_ADMIN_REQUEST, record_access
from tenancy.models import AuditLog, User

from ..conftest import bearer_client
from ..factories import ContactFactory, UserFactory
from ..unscoped import audit_entries

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(company_a, company_b):
    """Two entries about A, one about B, one platform-wide read naming no company."""
    for company in (company_a, company_a, company_b):
        record_access(
            action=AuditLog.Action.COMPANY_ACCESS, reason=SUPER_ADMIN_REQUEST, company_id=company.pk
        )
    record_access(action=AuditLog.Action.ALL_COMPANIES, reason="nightly pipeline report")
    return {
        "a": {entry.pk for entry in audit_entries(company=company_a)},
        "b": {entry.pk for entry in audit_entries(company=company_b)},
        "platform": {entry.pk for entry in audit_entries(company=None)},
    }


def listed_ids(client, path="/api/audit-log", **headers) -> set[int]:
    response = client.get(path, **headers)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def manager(company, role=User.Role.ADMIN):
    return UserFactory(company=company, role=role)


@pytest.mark.parametrize("role", [User.Role.OWNER, User.Role.ADMIN])
def test_owners_and_admins_read_only_their_companys_entries(entries, company_a, company_b, role):
    """A's owner or admin lists A's two entries; B's owner lists B's one; the platform's stay out."""
    assert listed_ids(bearer_client(manager(company_a, role))) == entries["a"]
    assert listed_ids(bearer_client(manager(company_b, User.Role.OWNER))) == entries["b"]


def test_a_member_is_refused_the_audit_log(entries, company_a):
    """Members of the company (role member) get 403 and no entry."""
    response = bearer_client(manager(company_a, User.Role.MEMBER)).get("/api/audit-log")
    assert response.status_code == 403
    assert "owners and admins" in response.json()["detail"]


def test_another_companys_entry_is_a_404_by_id(entries, company_a):
    """B's entry read by A's admin is a 404; A's own entry is a 200 naming its actor's e-mail."""
    client = bearer_client(manager(company_a))
    for pk in entries["b"] | entries["platform"]:
        assert client.get(f"/api/audit-log/{pk}").status_code == 404
    own = next(iter(entries["a"]))
    body = client.get(f"/api/audit-log/{own}").json()
    assert body["id"] == own
    assert body["action"] == "company_access"


def test_the_audit_log_cannot_be_written_through_the_api(entries, company_a):
    """POST, PUT, PATCH and DELETE are 405 for an owner and a super admin alike; nothing changes."""
    own = next(iter(entries["a"]))
    before = [(e.pk, e.reason, e.company_id) for e in audit_entries()]
    client = bearer_client(manager(company_a, User.Role.OWNER))
    assert (
        client.post("/api/audit-log", {"action": "company_access", "reason": "x"}, format="json").status_code
        == 405
    )
    for method in ("put", "patch", "delete"):
        assert (
            getattr(client, method)(f"/api/audit-log/{own}", {"reason": "x"}, format="json").status_code
            == 405
        )
    assert [(e.pk, e.reason, e.company_id) for e in audit_entries()] == before


def test_a_super_admin_reads_every_entry_or_one_companys(entries, admin_client_api, company_b):
    """Without X-Company-ID every entry (the read itself audited); with B's id only B's entries."""
    everything = listed_ids(admin_client_api)
    assert entries["a"] | entries["b"] | entries["platform"] <= everything
    assert listed_ids(admin_client_api, HTTP_X_COMPANY_ID=str(company_b.pk)) >= entries["b"]
    only_b = listed_ids(admin_client_api, HTTP_X_COMPANY_ID=str(company_b.pk))
    assert not only_b & (entries["a"] | entries["platform"])


def test_a_super_admins_visit_shows_in_the_companys_own_log(
    company_a, company_b, super_admin, admin_client_api
):
    """A super admin's API request inside A is listed for A's admin, with actor and path; not for B."""
    ContactFactory(company=company_a)
    admin_client_api.get("/api/contacts", HTTP_X_COMPANY_ID=str(company_a.pk))
    rows = bearer_client(manager(company_a)).get("/api/audit-log").json()["results"]
    assert [(row["actor_email"], row["path"]) for row in rows] == [(super_admin.email, "/api/contacts")]
    assert bearer_client(manager(company_b)).get("/api/audit-log").json()["results"] == []


def test_the_action_filter_and_a_bad_filter(entries, company_a):
    """?action= narrows the list; an unknown action is a 400 naming the choice."""
    client = bearer_client(manager(company_a))
    assert listed_ids(client, "/api/audit-log?action=company_access") == entries["a"]
    assert listed_ids(client, "/api/audit-log?action=all_companies") == set()
    response = client.get("/api/audit-log?action=nonsense")
    assert response.status_code == 400
    assert "action" in response.json()


# The admin


def admin_browser(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def test_the_admin_lists_a_managers_own_companys_entries_only(entries, company_a, company_b):
    """A's admin sees A's entries in the admin's audit log; B's and the platform's are not there."""
    browser = admin_browser(manager(company_a))
    response = browser.get("/admin/tenancy/auditlog/")
    assert response.status_code == 200
    shown = {entry.pk for entry in response.context["cl"].result_list}
    assert shown == entries["a"]
    for pk in entries["b"] | entries["platform"]:
        assert browser.get(f"/admin/tenancy/auditlog/{pk}/change/").status_code in {302, 404}
    own = next(iter(entries["a"]))
    assert browser.get(f"/admin/tenancy/auditlog/{own}/change/").status_code == 200


def test_the_admin_refuses_members_and_offers_no_change(entries, company_a):
    """A member staff user gets 403; a manager gets no add, change or delete."""
    assert (
        admin_browser(manager(company_a, User.Role.MEMBER)).get("/admin/tenancy/auditlog/").status_code == 403
    )
    browser = admin_browser(manager(company_a, User.Role.OWNER))
    own = next(iter(entries["a"]))
    assert browser.get("/admin/tenancy/auditlog/add/").status_code == 403
    assert browser.post(f"/admin/tenancy/auditlog/{own}/delete/", {"post": "yes"}).status_code == 403
    assert own in {entry.pk for entry in audit_entries(company=company_a)}
