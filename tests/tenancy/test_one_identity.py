"""One identity per request: a session and a bearer token of two users are refused on every path.

The API takes a bearer token when one is sent and the session otherwise; every other path (the
admin, the signing page) knows only the session. The admin site also refuses a tenant context that
is not the signed-in user's company, should anything ever set one.
"""

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import Client, RequestFactory

from crm.models import Contact
from tenancy.auth import issue_tokens
from tenancy.context import all_companies, company_context
from tenancy.models import AuditLog

from ..factories import ContactFactory, FileFactory, UserFactory
from ..unscoped import audit_entries

TWO_IDENTITIES = "This request carries a session and a bearer token of two different users; send one of them."


@pytest.fixture
def records(company_a, company_b):
    """A contact and a file in each company, with names a leak would show."""
    return {
        "contact_a": ContactFactory(company=company_a, first_name="Alpha", last_name="Onlyina"),
        "contact_b": ContactFactory(company=company_b, first_name="Bravo", last_name="Onlyinb"),
        "file_a": FileFactory(company=company_a, name="alpha-plan.pdf", content=b"%PDF-1.4 A"),
        "file_b": FileFactory(company=company_b, name="bravo-plan.pdf", content=b"%PDF-1.4 B"),
    }


def session_and_bearer(session_user, bearer_user) -> Client:
    """A browser signed in to the admin as one user that also sends another user's access token."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(bearer_user)['access_token']}")
    client.force_login(session_user)
    return client


def refusals() -> list[AuditLog]:
    return audit_entries(action=AuditLog.Action.IDENTITIES_DIFFER)


def paths(records) -> list[str]:
    return [
        "/admin/crm/contact/",
        f"/admin/crm/contact/{records['contact_b'].pk}/change/",
        f"/admin/files/file/{records['file_b'].pk}/download/",
        "/admin/messaging/twiliosettings/",
        "/api/contacts",
        f"/api/contacts/{records['contact_b'].pk}",
        f"/api/files/{records['file_b'].pk}/download",
        "/api/auth/me",
        "/sign/some-signing-token",
        "/api/public/files/some-file-token",
    ]


@pytest.mark.parametrize("order", ["session A + token B", "token A + session B"])
def test_a_session_and_a_token_of_two_users_are_refused_on_every_path_and_audited(
    order, records, user_a, user_b
):
    """Admin, API, downloads and public pages alike answer 400 with no data of either company."""
    session_user, bearer_user = (user_a, user_b) if order == "session A + token B" else (user_b, user_a)
    client = session_and_bearer(session_user, bearer_user)

    for path in paths(records):
        response = client.get(path)
        assert response.status_code == 400, path
        assert response.json() == {"detail": TWO_IDENTITIES}
        body = response.content.decode()
        assert not {"Alpha", "Bravo", "alpha-plan", "bravo-plan", "%PDF"} & set(body.split()), path

    logged = refusals()
    assert len(logged) == len(paths(records))
    assert {entry.actor_id for entry in logged} == {session_user.pk}
    assert {entry.company_id for entry in logged} == {session_user.company_id}
    assert all(str(bearer_user.pk) in entry.reason for entry in logged)


@pytest.mark.parametrize("order", ["session A + token B", "token A + session B"])
def test_a_refused_two_identity_write_changes_nothing(order, records, user_a, user_b):
    """A delete or an admin save sent with two identities reaches no view."""
    session_user, bearer_user = (user_a, user_b) if order == "session A + token B" else (user_b, user_a)
    client = session_and_bearer(session_user, bearer_user)
    target = records["contact_b"]

    deleted = client.delete(f"/api/contacts/{target.pk}")
    edited = client.post(f"/admin/crm/contact/{target.pk}/change/", {"first_name": "Changed"})

    assert (deleted.status_code, edited.status_code) == (400, 400)
    with company_context(target.company_id):
        assert Contact.objects.get(pk=target.pk).first_name == "Bravo"


def test_the_same_user_in_the_session_and_the_token_is_one_identity(records, user_a):
    """A browser signed in as the token's own user works on the admin and the API."""
    client = session_and_bearer(user_a, user_a)

    listing = client.get("/api/contacts")
    page = client.get("/admin/crm/contact/")

    assert listing.status_code == 200
    assert [row["id"] for row in listing.json()["results"]] == [str(records["contact_a"].pk)]
    assert page.status_code == 200
    assert "Onlyina" in page.content.decode() and "Onlyinb" not in page.content.decode()
    assert refusals() == []


def test_a_bearer_token_alone_opens_no_admin_page(records, user_b):
    """The admin ignores bearer tokens: without a session it asks for a sign-in and shows no rows."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user_b)['access_token']}")

    response = client.get("/admin/crm/contact/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get(f"/admin/files/file/{records['file_b'].pk}/download/").status_code == 302


def test_a_session_alone_reads_its_own_company_through_the_api(records, user_a):
    """The session is the API's identity when no bearer token is sent (DRF's session authentication)."""
    client = Client()
    client.force_login(user_a)

    response = client.get("/api/contacts")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(records["contact_a"].pk)]


def test_the_public_pages_answer_as_usual_with_one_identity(user_a):
    """Without the conflict the same public paths give their own answers, not the refusal."""
    client = Client()
    client.force_login(user_a)

    for path in ("/sign/some-signing-token", "/api/public/files/some-file-token"):
        response = client.get(path)
        assert response.status_code != 400 or response.json() != {"detail": TWO_IDENTITIES}


def staff_request(user):
    request = RequestFactory().get("/admin/crm/contact/")
    request.user = user
    return request


def test_the_admin_refuses_a_tenant_context_of_another_company(records, user_a, company_b):
    """Second lock: inside company B's context, company A's staff get 403 from the site and the base admin."""
    contact_admin = admin.site._registry[Contact]
    page = admin.site.admin_view(lambda request: HttpResponse("the page"))
    request = staff_request(user_a)

    with company_context(company_b), pytest.raises(PermissionDenied):
        contact_admin.get_queryset(request)
    with company_context(company_b), pytest.raises(PermissionDenied):
        page(request)
    with company_context(user_a.company_id):
        assert list(contact_admin.get_queryset(request)) == [records["contact_a"]]
        assert page(request).content == b"the page"


def test_the_admin_lets_a_platform_super_admin_act_in_any_company(records, super_admin, company_b):
    """A super admin's context is every company or the one it chose: the lock does not apply."""
    contact_admin = admin.site._registry[Contact]
    request = staff_request(super_admin)

    with company_context(company_b):
        assert list(contact_admin.get_queryset(request)) == [records["contact_b"]]
    with all_companies(reason="test: the super admin's changelist"):
        assert set(contact_admin.get_queryset(request)) == {records["contact_a"], records["contact_b"]}


def test_a_member_without_staff_rights_is_refused_with_two_identities(records, company_b, user_a):
    """The reported case: an owner's admin session with a non-staff member's token of another company."""
    member_b = UserFactory(company=company_b, role="member", is_staff=False)
    client = session_and_bearer(user_a, member_b)

    assert client.get("/admin/crm/contact/").status_code == 400
    assert client.get("/admin/messaging/twiliosettings/").status_code == 400
