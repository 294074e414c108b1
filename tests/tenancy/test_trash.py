"""Deleted records in the API: kept references say they are deleted; owners and admins list and restore."""

import pytest

from core.exceptions import StateConflict
from crm.models import Account, Deal
from messaging.models import EmailTemplate
from quotes.models import QuoteLineItem
from tenancy.context import company_context
from tenancy.models import AuditLog
from tenancy.trash import restore_record

from ..conftest import bearer_client
from ..factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    EmailCampaignFactory,
    EmailTemplateFactory,
    QuoteFactory,
    QuoteLineItemFactory,
    UserFactory,
)


def deleted(factory, company, **kwargs):
    """A row of `company`, soft-deleted as DELETE leaves it."""
    row = factory(company=company, **kwargs) if factory is not DealFactory else factory(**kwargs)
    with company_context(company):
        row.soft_delete()
    return row


def stored(model, pk, company):
    with company_context(company):
        return model._base_manager.filter(pk=pk).values().first()


def restore_entries(company):
    with company_context(company):
        return list(AuditLog.objects.filter(company=company, action=AuditLog.Action.RESTORE))


def test_deleting_an_account_keeps_its_deals_and_contacts_which_say_it_is_deleted(company_a, client_a):
    """The deal and contact still name the account, now with account_deleted: true."""
    account = AccountFactory(company=company_a)
    contact = ContactFactory(company=company_a, account=account)
    deal = DealFactory(account=account, contact=contact)

    assert client_a.get(f"/api/deals/{deal.pk}").json()["account_deleted"] is False
    assert client_a.delete(f"/api/accounts/{account.pk}").status_code == 204

    body = client_a.get(f"/api/deals/{deal.pk}").json()
    assert (body["account"], body["account_deleted"], body["contact_deleted"]) == (
        str(account.pk),
        True,
        False,
    )
    listed = {row["id"]: row for row in client_a.get("/api/contacts").json()["results"]}
    assert listed[str(contact.pk)]["account_deleted"] is True
    assert str(account.pk) not in {row["id"] for row in client_a.get("/api/accounts").json()["results"]}


def test_a_list_reads_the_deleted_references_of_a_page_in_one_query(
    company_a, client_a, django_assert_max_num_queries
):
    """account_deleted costs one query per relation for the page, not one per row."""
    for _ in range(3):
        deleted(AccountFactory, company_a)
    for account in AccountFactory.create_batch(3, company=company_a):
        ContactFactory(company=company_a, account=account)
    with company_context(company_a):
        for account in Account._base_manager.filter(is_deleted=True):
            ContactFactory(company=company_a, account=account)
    client_a.get("/api/contacts")  # warm the caches of sign-in
    with django_assert_max_num_queries(12) as captured:
        response = client_a.get("/api/contacts")
    few = len(captured)
    for _ in range(10):
        ContactFactory(company=company_a, account=deleted(AccountFactory, company_a))
    with django_assert_max_num_queries(few):
        assert len(client_a.get("/api/contacts").json()["results"]) == 16
    assert sum(row["account_deleted"] for row in response.json()["results"]) == 3


def test_a_full_update_may_echo_a_deleted_reference_but_not_choose_one(company_a, client_a):
    """PUT sending the deal back unchanged keeps its deleted account; pointing another deal at it is a 400."""
    deal = DealFactory(account=AccountFactory(company=company_a))
    client_a.delete(f"/api/accounts/{deal.account_id}")
    body = client_a.get(f"/api/deals/{deal.pk}").json()
    writable = {
        key: body[key] for key in ("name", "stage", "amount", "currency", "owner", "contact", "account")
    }

    response = client_a.put(f"/api/deals/{deal.pk}", {**writable, "name": "Renamed"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["account"], response.json()["account_deleted"]) == (str(deal.account_id), True)

    other = DealFactory(account=AccountFactory(company=company_a))
    response = client_a.patch(f"/api/deals/{other.pk}", {"account": str(deal.account_id)}, format="json")
    assert response.status_code == 400 and "account" in response.json()
    assert stored(Deal, other.pk, company_a)["account_id"] == other.account_id


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_list_only_deleted_records_with_deleted_true(role, company_a, company_b, client_b):
    """?deleted=true lists the trash, and another company's deleted rows are not in it."""
    client = bearer_client(UserFactory(company=company_a, role=role))
    live = AccountFactory(company=company_a)
    gone = deleted(AccountFactory, company_a)
    theirs = deleted(AccountFactory, company_b)

    trash = {row["id"] for row in client.get("/api/accounts", {"deleted": "true"}).json()["results"]}
    assert trash == {str(gone.pk)}
    live_ids = {row["id"] for row in client.get("/api/accounts", {"deleted": "false"}).json()["results"]}
    assert live_ids == {str(live.pk)}
    assert client.get(f"/api/accounts/{gone.pk}", {"deleted": "true"}).json()["id"] == str(gone.pk)
    assert client.get(f"/api/accounts/{gone.pk}").status_code == 404
    assert {row["id"] for row in client_b.get("/api/accounts", {"deleted": "true"}).json()["results"]} == {
        str(theirs.pk)
    }


def test_members_may_not_see_the_trash(company_a):
    """A member's ?deleted=true is a 403 naming who may."""
    deleted(AccountFactory, company_a)
    member = bearer_client(UserFactory(company=company_a, role="member"))
    response = member.get("/api/accounts", {"deleted": "true"})
    assert response.status_code == 403
    assert response.json()["detail"] == "Only owners and admins may list or restore deleted accounts."


def test_a_deleted_value_other_than_true_or_false_is_a_400(client_a):
    response = client_a.get("/api/accounts", {"deleted": "yes"})
    assert response.status_code == 400
    assert "true" in response.json()["detail"]


def test_restore_brings_a_record_back_and_writes_the_audit_log(company_a, user_a, client_a):
    """POST restore answers 200 with the record, which is live again, and one audit entry names it."""
    account = deleted(AccountFactory, company_a)
    deal = DealFactory(account=account)

    response = client_a.post(f"/api/accounts/{account.pk}/restore")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == str(account.pk)
    assert stored(Account, account.pk, company_a)["is_deleted"] is False
    assert client_a.get(f"/api/deals/{deal.pk}").json()["account_deleted"] is False
    (entry,) = restore_entries(company_a)
    assert (entry.actor_id, entry.reason) == (user_a.pk, f"restored crm.Account {account.pk}")
    assert entry.path == f"/api/accounts/{account.pk}/restore"


def test_restore_of_a_live_record_or_another_companys_is_a_404_and_changes_nothing(
    company_a, company_b, client_a, client_b
):
    live = AccountFactory(company=company_a)
    gone = deleted(AccountFactory, company_a)

    assert client_a.post(f"/api/accounts/{live.pk}/restore").status_code == 404
    assert client_b.post(f"/api/accounts/{gone.pk}/restore").status_code == 404
    assert stored(Account, gone.pk, company_a)["is_deleted"] is True
    assert restore_entries(company_a) == [] and restore_entries(company_b) == []


def test_a_member_may_not_restore(company_a):
    member = UserFactory(company=company_a, role="member")
    account = deleted(AccountFactory, company_a, owner=member)
    response = bearer_client(member).post(f"/api/accounts/{account.pk}/restore")
    assert response.status_code == 403
    assert stored(Account, account.pk, company_a)["is_deleted"] is True


def test_restore_that_would_break_a_unique_name_is_a_409(company_a, client_a):
    """A template whose name a live template took meanwhile stays deleted, with a 409 saying why."""
    template = deleted(EmailTemplateFactory, company_a, name="Welcome")
    EmailTemplateFactory(company=company_a, name="Welcome")

    response = client_a.post(f"/api/email-templates/{template.pk}/restore")
    assert response.status_code == 409, response.content
    assert "Cannot restore this email template" in response.json()["detail"]
    assert stored(EmailTemplate, template.pk, company_a)["is_deleted"] is True
    assert restore_entries(company_a) == []


def test_a_record_belonging_to_a_deleted_one_is_restored_after_it(company_a, user_a):
    """A line of a deleted quote stays deleted, with a conflict saying to restore the quote first."""
    quote = QuoteFactory(deal=DealFactory(account=AccountFactory(company=company_a)))
    line = QuoteLineItemFactory(quote=quote, company=company_a)
    with company_context(company_a):
        line.soft_delete()
        quote.soft_delete()
        with pytest.raises(StateConflict, match="restore the quote first"):
            restore_record(line, actor=user_a)
        assert QuoteLineItem._base_manager.get(pk=line.pk).is_deleted is True
        restore_record(quote, actor=user_a)
        restore_record(QuoteLineItem._base_manager.get(pk=line.pk), actor=user_a)
    assert stored(QuoteLineItem, line.pk, company_a)["is_deleted"] is False


def test_a_super_admin_restores_inside_the_company_named_by_x_company_id(
    company_a, super_admin, admin_client_api
):
    """With X-Company-ID a super admin restores (audited); without it the write is a 400."""
    account = deleted(AccountFactory, company_a)

    assert admin_client_api.post(f"/api/accounts/{account.pk}/restore").status_code == 400
    assert stored(Account, account.pk, company_a)["is_deleted"] is True

    response = admin_client_api.post(
        f"/api/accounts/{account.pk}/restore", HTTP_X_COMPANY_ID=str(company_a.pk)
    )
    assert response.status_code == 200, response.content
    assert stored(Account, account.pk, company_a)["is_deleted"] is False
    assert [entry.actor_id for entry in restore_entries(company_a)] == [super_admin.pk]


def test_the_schema_documents_restore_and_the_deleted_parameter(client_a):
    """Every tenant path offers restore with a typed response, and lists take ?deleted= as a boolean."""
    schema = client_a.get("/api/schema/", {"format": "json"}).json()
    restore = schema["paths"]["/api/accounts/{id}/restore/"]["post"]
    assert "requestBody" not in restore
    assert restore["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Account")
    parameters = {p["name"]: p for p in schema["paths"]["/api/accounts/"]["get"]["parameters"]}
    assert parameters["deleted"]["schema"]["type"] == "boolean"
    deal = schema["components"]["schemas"]["Deal"]["properties"]
    assert deal["account_deleted"] == {
        "type": "boolean",
        "readOnly": True,
        "description": "True when the account of `account` is deleted.",
    }


def test_deleting_a_template_a_campaign_will_send_is_a_409_naming_what_points_at_it(company_a, client_a):
    """A campaign still to send needs its template: the delete is refused, and nothing changes."""
    template = EmailTemplateFactory(company=company_a)
    EmailCampaignFactory(company=company_a, template=template, status="draft")
    EmailCampaignFactory(company=company_a, template=template, status="scheduled")

    response = client_a.delete(f"/api/email-templates/{template.pk}")
    assert response.status_code == 409
    assert response.json()["referenced_by"] == {"email_campaigns": 2}
    assert "cancel or delete the campaign first" in response.json()["detail"]
    assert stored(EmailTemplate, template.pk, company_a)["is_deleted"] is False
