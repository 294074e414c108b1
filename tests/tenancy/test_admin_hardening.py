"""Admin hardening: saves inside the record's company, who may change settings, service-only records,
template rules, private notifications, and changelists without a query per row."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from calls.models import Call
from crm.models import Contact
from messaging.models import Email, EmailTemplate, Notification, PhoneNumber, SmsMessage, TwilioSettings
from tenancy.context import all_companies, company_context
from tenancy.models import User
from workflows import services as workflow_services
from workflows.models import Workflow, WorkflowExecution

from ..factories import (
    AccountFactory,
    CallFactory,
    ContactFactory,
    EmailFactory,
    EmailTemplateFactory,
    NotificationFactory,
    PhoneNumberFactory,
    QuoteFactory,
    SmsMessageFactory,
    TwilioSettingsFactory,
    UserFactory,
    WorkflowFactory,
)

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(response) -> str:
    return response.content.decode()


def form_errors(response) -> dict:
    return response.context["adminform"].form.errors


@pytest.fixture
def member_a(company_a):
    return UserFactory(company=company_a, role=User.Role.MEMBER)


def contact_workflow(company, name) -> Workflow:
    return WorkflowFactory(
        company=company,
        name=name,
        trigger=Workflow.Trigger.RECORD_CREATED,
        record_type="contact",
        is_active=True,
        conditions=[],
    )


def executions_of(workflow) -> list[WorkflowExecution]:
    with company_context(workflow.company_id):
        return list(WorkflowExecution.objects.filter(workflow=workflow))


# 1. A super admin's save runs inside the record's company, and so do the workflows it triggers.


def test_super_admin_adding_a_contact_starts_only_that_companys_workflows(company_a, company_b, super_admin):
    """Across all companies, a contact added for A triggers A's workflow and never looks at B's."""
    workflow_a = contact_workflow(company_a, "Welcome A")
    workflow_b = contact_workflow(company_b, "Welcome B")

    response = browser(super_admin).post(
        "/admin/crm/contact/add/",
        {"company": company_a.pk, "first_name": "Support", "last_name": "Made", "_save": "Save"},
    )

    assert response.status_code == 302
    with company_context(company_a):
        contact = Contact.objects.get(first_name="Support", last_name="Made")
    with company_context(company_b):
        assert not Contact.objects.filter(first_name="Support").exists()
    assert [(e.record_id, e.company_id) for e in executions_of(workflow_a)] == [(contact.pk, company_a.pk)]
    assert executions_of(workflow_b) == []


def test_record_changed_acts_inside_the_records_company_whatever_the_scope(company_a, company_b):
    """Called across all companies, record_changed starts the record's company's workflows only."""
    contact = ContactFactory(company=company_a)
    workflow_a = contact_workflow(company_a, "Welcome A")
    workflow_b = contact_workflow(company_b, "Welcome B")

    with all_companies(reason="test: a platform-wide caller"):
        started = workflow_services.record_changed(contact, created=True, changed_fields={})

    assert [execution.workflow_id for execution in started] == [workflow_a.pk]
    assert len(executions_of(workflow_a)) == 1
    assert executions_of(workflow_b) == []


def test_super_admin_deletes_a_contact_inside_its_company(company_a, company_b, super_admin):
    """The delete page of a super admin soft-deletes the record in its own company."""
    contact = ContactFactory(company=company_a)

    response = browser(super_admin).post(f"/admin/crm/contact/{contact.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    with company_context(company_a):
        assert Contact._base_manager.get(pk=contact.pk).is_deleted is True


# 2. Twilio settings and phone numbers: members look, owners and admins change.


def test_member_cannot_add_or_change_twilio_settings(company_a, member_a):
    stored = TwilioSettingsFactory(company=company_a, account_sid="AC" + "a" * 32)
    client = browser(member_a)
    change_url = f"/admin/messaging/twiliosettings/{stored.pk}/change/"

    assert client.get("/admin/messaging/twiliosettings/add/").status_code == 403
    added = client.post(
        "/admin/messaging/twiliosettings/add/", {"account_sid": "AC" + "b" * 32, "auth_token": "x" * 20}
    )
    viewed = client.get(change_url)
    changed = client.post(change_url, {"account_sid": "AC" + "c" * 32, "auth_token": "new-token-0000"})
    deleted = client.post(f"/admin/messaging/twiliosettings/{stored.pk}/delete/", {"post": "yes"})

    assert (added.status_code, changed.status_code, deleted.status_code) == (403, 403, 403)
    assert viewed.status_code == 200
    with company_context(company_a):
        kept = TwilioSettings.objects.get()
    assert (kept.pk, kept.account_sid, kept.auth_token) == (stored.pk, stored.account_sid, stored.auth_token)


def test_member_cannot_add_or_change_phone_numbers_but_the_owner_can(company_a, user_a, member_a):
    number = PhoneNumberFactory(company=company_a, user=user_a, friendly_name="Front desk")
    change_url = f"/admin/messaging/phonenumber/{number.pk}/change/"
    values = {
        "number": number.number,
        "friendly_name": "Renamed",
        "sms_enabled": "on",
        "voice_enabled": "on",
        "user": user_a.pk,
    }
    member = browser(member_a)

    assert member.get("/admin/messaging/phonenumber/add/").status_code == 403
    added = member.post("/admin/messaging/phonenumber/add/", {**values, "number": "+12025550177"})
    changed = member.post(change_url, values)

    assert (added.status_code, changed.status_code) == (403, 403)
    assert member.get(change_url).status_code == 200
    with company_context(company_a):
        assert list(PhoneNumber.objects.values_list("number", "friendly_name")) == [
            (number.number, "Front desk")
        ]

    assert browser(user_a).post(change_url, values).status_code == 302
    with company_context(company_a):
        assert PhoneNumber.objects.get(pk=number.pk).friendly_name == "Renamed"


# 3. Messages, e-mails and calls are created by the services only.

SERVICE_RECORDS = {
    "sms": (
        SmsMessage,
        lambda company: SmsMessageFactory(phone_number__company=company),
        "/admin/messaging/smsmessage/",
    ),
    "email": (Email, lambda company: EmailFactory(contact__company=company), "/admin/messaging/email/"),
    "call": (Call, lambda company: CallFactory(phone_number__company=company), "/admin/calls/call/"),
}
FORGED = {
    "direction": "outbound",
    "from_number": "+12025550101",
    "to_number": "+16175550111",
    "to_email": "victim@example.com",
    "subject": "Forged",
    "body": "Forged",
    "body_text": "Forged",
    "status": "queued",
    "notes": "Forged",
    "_save": "Save",
}


def stored_rows(model, *companies) -> list[tuple]:
    rows = []
    for company in companies:
        with company_context(company):
            rows += list(model._base_manager.order_by("pk").values_list("pk", "status", "is_deleted"))
    return rows


@pytest.mark.parametrize("kind", SERVICE_RECORDS)
def test_service_records_cannot_be_added_in_the_admin(kind, company_a, company_b, user_a, super_admin):
    model, make, url = SERVICE_RECORDS[kind]
    make(company_a)
    before = stored_rows(model, company_a, company_b)

    for user, extra in ((user_a, {}), (super_admin, {"company": company_a.pk})):
        client = browser(user)
        assert client.get(f"{url}add/").status_code == 403, user
        assert client.post(f"{url}add/", {**FORGED, **extra}).status_code == 403, user

    assert stored_rows(model, company_a, company_b) == before


@pytest.mark.parametrize("kind", SERVICE_RECORDS)
def test_service_records_are_viewed_not_changed(kind, company_a, company_b, user_a, super_admin):
    model, make, url = SERVICE_RECORDS[kind]
    record = make(company_a)
    change_url = f"{url}{record.pk}/change/"
    before = stored_rows(model, company_a, company_b)

    for user in (user_a, super_admin):
        client = browser(user)
        assert client.get(change_url).status_code == 200, user
        assert client.post(change_url, {**FORGED, "status": "failed"}).status_code == 403, user

    assert stored_rows(model, company_a, company_b) == before


@pytest.mark.parametrize("kind", SERVICE_RECORDS)
def test_service_records_are_soft_deleted_by_managers_only(kind, company_a, user_a, member_a):
    model, make, url = SERVICE_RECORDS[kind]
    record = make(company_a)
    delete_url = f"{url}{record.pk}/delete/"

    assert browser(member_a).post(delete_url, {"post": "yes"}).status_code == 403
    with company_context(company_a):
        assert model._base_manager.get(pk=record.pk).is_deleted is False

    assert browser(user_a).post(delete_url, {"post": "yes"}).status_code == 302
    with company_context(company_a):
        assert model._base_manager.get(pk=record.pk).is_deleted is True


# 4. E-mail templates follow the API's rules.


def template_form(**values) -> dict:
    return {
        "name": "Welcome",
        "subject": "Hello {{ contact.first_name }}",
        "body_text": "Dear {{ contact.first_name }}",
        "body_html": "",
        "user": "",
        "_save": "Save",
        **values,
    }


def template_names(company) -> list[str]:
    with company_context(company):
        return sorted(EmailTemplate.objects.values_list("name", flat=True))


def test_a_duplicate_template_name_is_a_form_error(company_a, company_b, user_a, user_b, super_admin):
    """The same name (any case) in one company is a form error, for staff and super admins alike."""
    EmailTemplateFactory(company=company_a, name="Welcome")

    by_owner = browser(user_a).post("/admin/messaging/emailtemplate/add/", template_form(name="welcome"))
    by_support = browser(super_admin).post(
        "/admin/messaging/emailtemplate/add/", template_form(company=company_a.pk)
    )
    in_other_company = browser(user_b).post("/admin/messaging/emailtemplate/add/", template_form())

    assert by_owner.status_code == 200 and "already exists" in form_errors(by_owner)["name"][0]
    assert by_support.status_code == 200 and "already exists" in form_errors(by_support)["name"][0]
    assert template_names(company_a) == ["Welcome"]
    assert in_other_company.status_code == 302
    with company_context(company_b):
        assert EmailTemplate.objects.get().user == user_b


def test_super_admin_saves_a_template_inside_its_company(company_a, company_b, super_admin):
    """The service's name check runs in the template's company: A's "Welcome" does not block B's."""
    EmailTemplateFactory(company=company_a, name="Welcome")

    response = browser(super_admin).post(
        "/admin/messaging/emailtemplate/add/", template_form(company=company_b.pk)
    )

    assert response.status_code == 302
    assert template_names(company_a) == ["Welcome"]
    assert template_names(company_b) == ["Welcome"]


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("body_text", "Your password is {{ contact.password }}", "contact.password"),
        ("subject", "{% load static %}Hi", "Template tags"),
        ("body_html", "<p>{{ sender.secret }}</p>", "sender.secret"),
    ],
)
def test_unknown_merge_fields_and_template_tags_are_form_errors(company_a, user_a, field, text, message):
    response = browser(user_a).post("/admin/messaging/emailtemplate/add/", template_form(**{field: text}))

    assert response.status_code == 200
    assert message in " ".join(form_errors(response)[field])
    assert template_names(company_a) == []


def test_changing_a_template_to_an_unknown_field_keeps_it(company_a, user_a):
    template = EmailTemplateFactory(
        company=company_a, name="Welcome", body_text="Hi {{ contact.first_name }}"
    )

    response = browser(user_a).post(
        f"/admin/messaging/emailtemplate/{template.pk}/change/",
        template_form(body_text="Hi {{ contact.password }}"),
    )

    assert response.status_code == 200
    assert "body_text" in form_errors(response)
    with company_context(company_a):
        assert EmailTemplate.objects.get().body_text == "Hi {{ contact.first_name }}"


# 5. Notifications are private to their user, unless one manages the company.


def test_members_see_only_their_own_notifications(
    company_a, company_b, user_a, user_b, member_a, super_admin
):
    colleague = UserFactory(company=company_a, role=User.Role.MEMBER)
    mine = NotificationFactory(user=member_a, title="Mine")
    theirs = NotificationFactory(user=colleague, title="Colleague's")
    owners = NotificationFactory(user=user_a, title="Owner's")
    other_company = NotificationFactory(user=user_b, title="Other company's")

    def listed(user) -> set:
        response = browser(user).get("/admin/messaging/notification/")
        assert response.status_code == 200
        return {n.pk for n in response.context["cl"].result_list}

    assert listed(member_a) == {mine.pk}
    assert listed(user_a) == {mine.pk, theirs.pk, owners.pk}
    assert listed(super_admin) == {mine.pk, theirs.pk, owners.pk, other_company.pk}

    member = browser(member_a)
    change_url = f"/admin/messaging/notification/{theirs.pk}/change/"
    opened = member.get(change_url)
    changed = member.post(change_url, {"user": member_a.pk, "kind": "info", "title": "Taken"})
    deleted = member.post(f"/admin/messaging/notification/{theirs.pk}/delete/", {"post": "yes"})
    assert (opened.status_code, opened["Location"]) == (302, "/admin/")
    assert (changed.status_code, changed["Location"]) == (302, "/admin/")
    assert deleted.status_code in (302, 403)
    with company_context(company_a):
        kept = Notification._base_manager.get(pk=theirs.pk)
    assert (kept.user_id, kept.title, kept.is_deleted) == (colleague.pk, "Colleague's", False)

    addressees = member.get(
        "/admin/autocomplete/",
        {"app_label": "messaging", "model_name": "notification", "field_name": "user"},
    ).json()["results"]
    assert {row["id"] for row in addressees} == {str(member_a.pk)}


# 6. A changelist costs the same number of queries for 2 rows as for 20.


def _accounts(company):
    return AccountFactory(company=company)


def _contacts(company):
    return ContactFactory(company=company)


def _numbers(company):
    return PhoneNumberFactory(company=company)


def _templates(company):
    return EmailTemplateFactory(company=company)


def _quotes(company):
    return QuoteFactory(deal__account__company=company)


CHANGELISTS = {
    "/admin/crm/account/": _accounts,
    "/admin/crm/contact/": _contacts,
    "/admin/messaging/phonenumber/": _numbers,
    "/admin/messaging/emailtemplate/": _templates,
    "/admin/quotes/quote/": _quotes,
}


def changelist_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", CHANGELISTS)
@pytest.mark.parametrize("as_super_admin", [False, True], ids=["owner", "super_admin"])
def test_changelist_queries_do_not_grow_with_rows(
    url, as_super_admin, company_a, company_b, user_a, super_admin
):
    make = CHANGELISTS[url]
    companies = [company_a, company_b] if as_super_admin else [company_a]
    client = browser(super_admin if as_super_admin else user_a)

    for index in range(2):
        make(companies[index % len(companies)])
    few = changelist_queries(client, url)
    for index in range(18):
        make(companies[index % len(companies)])
    many = changelist_queries(client, url)

    assert many == few
