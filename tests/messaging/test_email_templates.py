"""E-mail templates over REST: merge fields from an allow-list, safe rendering, preview, isolation."""

import jsonschema
import pytest
from django.conf import settings as django_settings

from messaging.models import EmailCampaign, EmailTemplate
from messaging.services.templates import MERGE_FIELD_KEYS
from tenancy.context import company_context

from ..factories import (
    AccountFactory,
    ContactFactory,
    DealFactory,
    EmailCampaignFactory,
    EmailTemplateFactory,
)
from ..unscoped import as_the_platform_unaudited, stored

TEMPLATES = "/api/email-templates"


def template_count(company) -> int:
    with company_context(company):
        return EmailTemplate.objects.count()


def preview(client, template, **body):
    return client.post(f"{TEMPLATES}/{template.id}/preview", body, format="json")


@pytest.fixture
def preview_contact_a(company_a):
    """A contact of company A with every field a template merges, and an account."""
    account = AccountFactory(company=company_a, name="Initech")
    return ContactFactory(
        company=company_a,
        account=account,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@a.example",
        phone="+14155550100",
        title="CTO",
    )


# Create, read, change


def test_create_lists_the_merge_fields_and_stays_in_the_company(client_a, client_b, company_a, user_a):
    """A template is stored for the creator's company and user; company B cannot read it."""
    response = client_a.post(
        TEMPLATES,
        {
            "name": "Welcome",
            "subject": "Welcome {{contact.first_name}}",
            "body_text": "Hi {{ contact.first_name }}, {{  sender.full_name  }} here.",
            "body_html": "<p>{{ company.name }}</p>",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["company"], body["user"]) == (str(company_a.id), str(user_a.id))
    assert body["merge_fields"] == ["contact.first_name", "sender.full_name", "company.name"]
    assert client_a.get(f"{TEMPLATES}/{body['id']}").status_code == 200
    assert client_b.get(f"{TEMPLATES}/{body['id']}").status_code == 404
    assert client_b.get(TEMPLATES).json()["count"] == 0


def test_name_is_unique_within_a_company_only(client_a, client_b, company_a, company_b):
    """A second template of the same name is a 400 on name in the same company, and fine in another."""
    EmailTemplateFactory(company=company_a, name="Welcome")
    payload = {"name": "welcome", "subject": "Hi", "body_text": "Hello"}

    duplicate = client_a.post(TEMPLATES, payload, format="json")
    elsewhere = client_b.post(TEMPLATES, payload, format="json")

    assert duplicate.status_code == 400
    assert "already exists" in duplicate.json()["name"][0]
    assert template_count(company_a) == 1
    assert elsewhere.status_code == 201, elsewhere.content
    assert template_count(company_b) == 1


def test_renaming_to_an_existing_name_is_a_400(client_a, company_a):
    """A rename onto another template's name is refused and changes nothing."""
    EmailTemplateFactory(company=company_a, name="Welcome")
    other = EmailTemplateFactory(company=company_a, name="Follow-up")

    response = client_a.patch(f"{TEMPLATES}/{other.id}", {"name": "Welcome"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()
    assert stored(EmailTemplate, other.id).name == "Follow-up"


def test_a_deleted_templates_name_can_be_used_again(client_a, company_a):
    """Once a template is deleted, a new one may take its name."""
    old = EmailTemplateFactory(company=company_a, name="Welcome")
    assert client_a.delete(f"{TEMPLATES}/{old.id}").status_code == 204

    response = client_a.post(TEMPLATES, {"name": "Welcome", "subject": "Hi", "body_text": "B"}, format="json")

    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("subject", "accepted"),
    [
        ("Hi", True),
        ("  Hi there \n", True),
        ("Hi\nBcc: all@x.example", False),
        ("Hi\rthere", False),
        ("   ", False),
    ],
)
def test_a_subject_is_one_line_as_the_schema_states(client_a, company_a, subject, accepted):
    """The published schema and the server agree: a subject with a line break inside is a 400."""
    schema = client_a.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    payload = {"name": "Welcome", "subject": subject, "body_text": "B"}
    assert jsonschema.Draft7Validator(schema["EmailTemplateRequest"]).is_valid(payload) is accepted
    template = EmailTemplateFactory(company=company_a, subject="Before")

    created = client_a.post(TEMPLATES, payload, format="json")
    changed = client_a.patch(f"{TEMPLATES}/{template.id}", {"subject": subject}, format="json")

    assert (created.status_code, changed.status_code) == ((201, 200) if accepted else (400, 400))
    if not accepted:
        assert template_count(company_a) == 1
        assert stored(EmailTemplate, template.id).subject == "Before"


@pytest.mark.parametrize(
    ("part", "text", "named"),
    [
        ("body_text", "Your password: {{ contact.password }}", "contact.password"),
        ("subject", "{{ settings.SECRET_KEY }}", "settings.SECRET_KEY"),
        ("body_html", "<p>{{ request }}</p>", "request"),
        ("body_text", "{{ contact.__class__ }}", "contact.__class__"),
        ("body_text", "{{ contact.first_name|upper }}", "contact.first_name|upper"),
        ("body_text", "{% load static %}Hi", "{% load static %}"),
    ],
)
def test_unknown_merge_fields_and_template_tags_are_a_400_naming_them(client_a, company_a, part, text, named):
    """A placeholder outside the allow-list, or a template tag, is refused on its part by name."""
    payload = {"name": "Risky", "subject": "Hi", "body_text": "Hello", part: text}

    response = client_a.post(TEMPLATES, payload, format="json")

    assert response.status_code == 400
    assert named in " ".join(response.json()[part])
    assert template_count(company_a) == 0


def test_a_change_introducing_an_unknown_field_is_refused(client_a, company_a):
    """PATCHing in an unknown merge field is a 400 and the template keeps its text."""
    template = EmailTemplateFactory(company=company_a, body_text="Hi {{ contact.first_name }}")

    response = client_a.patch(
        f"{TEMPLATES}/{template.id}", {"body_text": "{{ user.password }}"}, format="json"
    )

    assert response.status_code == 400
    assert "user.password" in response.json()["body_text"][0]
    assert stored(EmailTemplate, template.id).body_text == "Hi {{ contact.first_name }}"


def test_merge_fields_endpoint_lists_the_allow_list(client_a):
    """The merge fields a template may use are listed with their placeholders."""
    response = client_a.get(f"{TEMPLATES}/merge-fields")

    assert response.status_code == 200
    rows = response.json()
    assert {row["key"] for row in rows} == MERGE_FIELD_KEYS
    assert {"placeholder": "{{ contact.first_name }}", "key": "contact.first_name"}.items() <= rows[0].items()
    assert "contact.account_name" in MERGE_FIELD_KEYS and "deal.amount" in MERGE_FIELD_KEYS


# Safe rendering and preview


def test_preview_renders_contact_deal_sender_and_company(client_a, company_a, user_a, preview_contact_a):
    """Every kind of merge field is filled from the contact, deal, you and your company."""
    user_a.full_name, user_a.email, user_a.phone = "Grace Hopper", "grace@a.example", "+14155550199"
    with as_the_platform_unaudited():
        user_a.save()
    deal = DealFactory(
        account=preview_contact_a.account,
        contact=preview_contact_a,
        name="Renewal",
        amount="12500.00",
        currency="EUR",
        stage="proposal",
        expected_close_date="2030-06-30",
    )
    template = EmailTemplateFactory(
        company=company_a,
        subject="{{ deal.name }}: {{ contact.full_name }}",
        body_text=(
            "{{ contact.first_name }} {{ contact.last_name }} <{{ contact.email }}> {{ contact.phone }} "
            "{{ contact.title }} at {{ contact.account_name }}; {{ deal.amount }} {{ deal.currency }} "
            "{{ deal.stage }} by {{ deal.expected_close_date }}; {{ sender.full_name }} "
            "{{ sender.email }} {{ sender.phone }} of {{ company.name }}"
        ),
        body_html="<p>{{ contact.first_name }}</p>",
    )

    response = preview(client_a, template, contact=str(preview_contact_a.id), deal=str(deal.id))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "subject": "Renewal: Ada Lovelace",
        "body_text": (
            "Ada Lovelace <ada@a.example> +14155550100 CTO at Initech; 12,500.00 EUR Proposal by 2030-06-30; "
            "Grace Hopper grace@a.example +14155550199 of Company A"
        ),
        "body_html": "<p>Ada</p>",
    }


def test_preview_without_a_deal_renders_its_fields_empty(client_a, company_a, preview_contact_a):
    """A merge field of a record not given renders as nothing."""
    template = EmailTemplateFactory(
        company=company_a, subject="Hi", body_text="[{{ deal.name }}] {{ contact.first_name }}"
    )

    response = preview(client_a, template, contact=str(preview_contact_a.id))

    assert response.json()["body_text"] == "[] Ada"


def test_preview_of_a_deal_alone_uses_the_deals_contact(client_a, company_a, preview_contact_a):
    """Given only a deal, the deal's contact fills the contact fields."""
    deal = DealFactory(account=preview_contact_a.account, contact=preview_contact_a, name="Renewal")
    template = EmailTemplateFactory(
        company=company_a, subject="Hi", body_text="{{ contact.first_name }}: {{ deal.name }}"
    )

    response = preview(client_a, template, deal=str(deal.id))

    assert response.json()["body_text"] == "Ada: Renewal"


def test_values_are_escaped_in_html_only_and_never_rendered_again(client_a, company_a):
    """A contact's markup is escaped in HTML only, and a placeholder inside a value stays text."""
    contact = ContactFactory(
        company=company_a, first_name="<script>alert(1)</script>", last_name="{{ sender.email }}"
    )
    template = EmailTemplateFactory(
        company=company_a,
        subject="Hi {{ contact.first_name }}",
        body_text="{{ contact.first_name }} {{ contact.last_name }}",
        body_html="<p>{{ contact.first_name }} {{ contact.last_name }}</p>",
    )

    body = preview(client_a, template, contact=str(contact.id)).json()

    assert body["body_text"] == "<script>alert(1)</script> {{ sender.email }}"
    assert body["body_html"] == "<p>&lt;script&gt;alert(1)&lt;/script&gt; {{ sender.email }}</p>"
    assert body["subject"] == "Hi <script>alert(1)</script>"


def test_template_code_stored_outside_the_api_is_never_executed(client_a, company_a, preview_contact_a):
    """Tags, request, dunder attributes and settings in a stored template come out as literal text."""
    hostile = (
        "{% load static %}{% debug %}{{ request }} {{ contact.__class__ }} {{ settings.SECRET_KEY }} "
        "{{ contact.first_name.__class__.__mro__ }} {{ contact.first_name }}"
    )
    template = EmailTemplateFactory(company=company_a, subject="Hi", body_text=hostile, body_html=hostile)

    body = preview(client_a, template, contact=str(preview_contact_a.id)).json()

    expected = hostile.replace("{{ contact.first_name }}", "Ada")
    assert body["body_text"] == expected
    assert body["body_html"] == expected
    assert django_settings.SECRET_KEY not in body["body_text"]
    assert "class" not in body["body_text"].replace("__class__", "")


@pytest.mark.parametrize("field", ["contact", "deal"])
def test_preview_for_the_other_companys_record_is_a_400(client_a, company_a, company_b, field):
    """Previewing for company B's contact or deal is a 400 on that field."""
    template = EmailTemplateFactory(company=company_a)
    foreign = (
        ContactFactory(company=company_b) if field == "contact" else DealFactory(account__company=company_b)
    )

    response = preview(client_a, template, **{field: str(foreign.id)})

    assert response.status_code == 400
    assert field in response.json()


def test_the_other_company_cannot_preview_a_template(client_b, company_a, company_b):
    """Company B previewing company A's template gets a 404."""
    template = EmailTemplateFactory(company=company_a)

    assert preview(client_b, template).status_code == 404


# Deleting


def test_a_template_used_by_an_unfinished_campaign_cannot_be_deleted(client_a, client_b, company_a):
    """Deleting a template a draft campaign needs is a 409 naming it; once that is cancelled it may go."""
    campaign = EmailCampaignFactory(template__company=company_a, name="Launch")
    template_id = campaign.template_id

    assert client_b.delete(f"{TEMPLATES}/{template_id}").status_code == 404
    refused = client_a.delete(f"{TEMPLATES}/{template_id}")
    assert refused.status_code == 409
    assert "Launch" in refused.json()["detail"]
    assert refused.json()["referenced_by"] == {"email_campaigns": 1}
    assert stored(EmailTemplate, template_id).is_deleted is False

    with company_context(company_a):
        EmailCampaign.objects.filter(pk=campaign.pk).update(status=EmailCampaign.Status.CANCELLED)
    assert client_a.delete(f"{TEMPLATES}/{template_id}").status_code == 204
    assert stored(EmailTemplate, template_id).is_deleted is True
