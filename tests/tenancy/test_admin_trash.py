"""The admin's trash: owners and admins filter to deleted records, open them read-only and restore them."""

import pytest
from django.test import Client

from crm.models import Account
from messaging.models import EmailTemplate
from tenancy.context import company_context
from tenancy.models import AuditLog

from ..factories import AccountFactory, EmailCampaignFactory, EmailTemplateFactory, UserFactory

CHANGELIST = "/admin/crm/account/"


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def staff(company, role):
    return UserFactory(company=company, role=role, is_staff=True)


def deleted(factory, company, **kwargs):
    row = factory(company=company, **kwargs)
    with company_context(company):
        row.soft_delete()
    return row


def is_deleted(model, pk, company) -> bool:
    with company_context(company):
        return model._base_manager.get(pk=pk).is_deleted


def restore_entries(company) -> list:
    with company_context(company):
        return list(AuditLog.objects.filter(action=AuditLog.Action.RESTORE).values_list("reason", flat=True))


@pytest.fixture
def accounts(company_a, company_b):
    return {
        "live": AccountFactory(company=company_a, name="Live Alpha"),
        "gone": deleted(AccountFactory, company_a, name="Gone Alpha"),
        "theirs": deleted(AccountFactory, company_b, name="Gone Bravo"),
    }


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_the_trash_filter_lists_only_the_companys_deleted_records(role, company_a, accounts):
    client = browser(staff(company_a, role))
    page = client.get(CHANGELIST).content.decode()
    assert "Live Alpha" in page and "Gone Alpha" not in page
    assert "By trash" in page and "?trash=deleted" in page

    trash = client.get(CHANGELIST, {"trash": "deleted"}).content.decode()
    assert "Gone Alpha" in trash
    assert "Live Alpha" not in trash and "Gone Bravo" not in trash
    assert 'value="restore_selected"' in trash and 'value="delete_selected"' not in trash


def test_members_get_no_trash(company_a, accounts):
    """A member sees no filter, and ?trash=deleted shows them no deleted record."""
    client = browser(staff(company_a, "member"))
    assert "?trash=deleted" not in client.get(CHANGELIST).content.decode()
    response = client.get(CHANGELIST, {"trash": "deleted"}, follow=True)
    assert "Gone Alpha" not in response.content.decode()
    assert (
        "Gone Alpha"
        not in client.get(f"{CHANGELIST}{accounts['gone'].pk}/change/", follow=True).content.decode()
    )


def test_the_restore_action_restores_and_audits_only_the_companys_records(company_a, company_b, accounts):
    """Restore on a posted id of another company restores nothing there."""
    client = browser(staff(company_a, "admin"))
    response = client.post(
        f"{CHANGELIST}?trash=deleted",
        {"action": "restore_selected", "_selected_action": [accounts["gone"].pk, accounts["theirs"].pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Restored 1 account." in response.content.decode()
    assert is_deleted(Account, accounts["gone"].pk, company_a) is False
    assert is_deleted(Account, accounts["theirs"].pk, company_b) is True
    assert restore_entries(company_a) == [f"restored crm.Account {accounts['gone'].pk}"]
    assert restore_entries(company_b) == []


def test_a_restore_refused_by_a_unique_rule_says_why_and_keeps_the_record_deleted(company_a):
    template = deleted(EmailTemplateFactory, company_a, name="Welcome")
    EmailTemplateFactory(company=company_a, name="Welcome")
    client = browser(staff(company_a, "owner"))
    response = client.post(
        "/admin/messaging/emailtemplate/?trash=deleted",
        {"action": "restore_selected", "_selected_action": [template.pk]},
        follow=True,
    )
    assert "Cannot restore this email template" in response.content.decode()
    assert is_deleted(EmailTemplate, template.pk, company_a) is True


def test_a_deleted_records_page_opens_read_only_for_those_who_may_restore_it(company_a, accounts):
    """No "doesn't exist": the page shows the record, says it is deleted, and offers no save."""
    client = browser(staff(company_a, "owner"))
    response = client.get(f"{CHANGELIST}{accounts['gone'].pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Gone Alpha" in page and "This account is deleted." in page
    assert 'name="_save"' not in page

    response = client.post(f"{CHANGELIST}{accounts['gone'].pk}/change/", {"name": "Changed"})
    assert response.status_code == 403
    assert is_deleted(Account, accounts["gone"].pk, company_a) is True
    assert client.get(f"{CHANGELIST}{accounts['theirs'].pk}/change/", follow=True).status_code == 200
    assert (
        "Gone Bravo"
        not in client.get(f"{CHANGELIST}{accounts['theirs'].pk}/change/", follow=True).content.decode()
    )


def test_a_deleted_record_is_offered_in_no_picker(company_a, accounts):
    """The contact form's account autocomplete answers the live account only, also when asked by name."""
    client = browser(staff(company_a, "owner"))
    for term in ("", "Gone"):
        response = client.get(
            "/admin/autocomplete/",
            {"app_label": "crm", "model_name": "contact", "field_name": "account", "term": term},
        )
        assert response.status_code == 200
        offered = {result["id"] for result in response.json()["results"]}
        assert str(accounts["gone"].pk) not in offered and str(accounts["theirs"].pk) not in offered
        assert (str(accounts["live"].pk) in offered) == (term == "")


def test_a_super_admin_restores_another_companys_record_inside_its_company(
    super_admin, company_a, company_b, accounts
):
    client = browser(super_admin)
    response = client.post(
        f"{CHANGELIST}?trash=deleted",
        {"action": "restore_selected", "_selected_action": [accounts["theirs"].pk]},
        follow=True,
    )
    assert "Restored 1 account." in response.content.decode()
    assert is_deleted(Account, accounts["theirs"].pk, company_b) is False
    assert restore_entries(company_b) == [f"restored crm.Account {accounts['theirs'].pk}"]


def test_the_admin_refuses_deleting_a_template_a_campaign_uses(company_a):
    """The delete page names the campaign that protects the template, and the template stays."""
    template = EmailTemplateFactory(company=company_a, name="In use")
    EmailCampaignFactory(company=company_a, template=template, name="Spring launch", status="scheduled")
    client = browser(staff(company_a, "owner"))

    delete_page = f"/admin/messaging/emailtemplate/{template.pk}/delete/"
    page = client.post(delete_page, {"post": "yes"}).content.decode()
    assert "Cannot delete email template" in page and "Spring launch" in page
    assert is_deleted(EmailTemplate, template.pk, company_a) is False
