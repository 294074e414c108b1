"""E-mail over REST: compose, send through Django's mail backend in a task, status, failures, isolation."""

import smtplib
from datetime import timedelta

import jsonschema
import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.utils import timezone

from core.tasks import requeue_stalled_sends
from messaging.models import Email, Notification
from messaging.tasks.email import send_email
from tenancy.context import company_context

from ..factories import ContactFactory, DealFactory, EmailFactory, EmailTemplateFactory, UserFactory
from ..unscoped import as_the_platform_unaudited, stored, unscoped

EMAILS = "/api/emails"
REFUSED_DOMAIN = "refused.example"


class RefusingBackend(LocmemBackend):
    """Django's locmem backend, except that the mail server refuses every address at refused.example."""

    def send_messages(self, messages):
        for message in messages:
            refused = [address for address in message.recipients() if address.endswith(f"@{REFUSED_DOMAIN}")]
            if refused:
                raise smtplib.SMTPRecipientsRefused(dict.fromkeys(refused, (550, b"No such user")))
        return super().send_messages(messages)


@pytest.fixture
def refusing_backend(settings):
    settings.EMAIL_BACKEND = "tests.messaging.test_email.RefusingBackend"


@pytest.fixture
def recipient_a(company_a):
    """A contact of company A with an e-mail address."""
    return ContactFactory(company=company_a, first_name="Ada", last_name="Lovelace", email="ada@a.example")


def listed_ids(client, **params) -> set[str]:
    response = client.get(EMAILS, params)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# Compose and send


def test_compose_to_a_contact_sends_through_django_mail(
    client_a, client_b, user_a, recipient_a, django_capture_on_commit_callbacks, settings
):
    """A composed e-mail is sent from the company address under the sender's name, replies go to them."""
    settings.DEFAULT_FROM_EMAIL = "CRM <crm@mail.example>"
    user_a.full_name, user_a.email = "Grace Hopper", "grace@a.example"
    with as_the_platform_unaudited():
        user_a.save()

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(
            EMAILS,
            {
                "contact": str(recipient_a.id),
                "subject": "Hello",
                "body_text": "Hi Ada",
                "body_html": "<p>Hi</p>",
            },
            format="json",
        )

    assert response.status_code == 201, response.content
    email = stored(Email, response.json()["id"])
    assert (email.status, email.to_email, email.user_id) == ("sent", "ada@a.example", user_a.id)
    assert email.sent_at is not None and email.attempts == 1
    [message] = mail.outbox
    assert message.to == ["ada@a.example"]
    assert message.from_email == "Grace Hopper <crm@mail.example>"
    assert message.reply_to == ["grace@a.example"]
    assert (message.subject, message.body) == ("Hello", "Hi Ada")
    assert message.alternatives[0][0] == "<p>Hi</p>"
    assert message.extra_headers["Message-ID"] == email.message_id
    assert email.message_id.endswith("@mail.example>")
    assert client_a.get(f"{EMAILS}/{email.id}").json()["status"] == "sent"
    assert client_b.get(f"{EMAILS}/{email.id}").status_code == 404
    assert str(email.id) not in listed_ids(client_b)


def test_email_is_recorded_queued_before_its_task_runs(
    client_a, recipient_a, django_capture_on_commit_callbacks
):
    """The e-mail is stored as queued first, and nothing is sent until the transaction commits."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_a.post(
            EMAILS, {"contact": str(recipient_a.id), "subject": "Hi", "body_text": "Body"}, format="json"
        )

    assert response.status_code == 201
    assert response.json()["status"] == "queued"
    assert stored(Email, response.json()["id"]).status == "queued"
    assert mail.outbox == []
    for callback in callbacks:
        callback()
    assert stored(Email, response.json()["id"]).status == "sent"
    assert len(mail.outbox) == 1


def test_to_email_alone_links_the_companys_contact_with_that_address(
    client_a, company_a, company_b, django_capture_on_commit_callbacks
):
    """A typed address lands on the company's contact with it, never on the other company's."""
    ContactFactory(company=company_b, email="shared@x.example")
    own = ContactFactory(company=company_a, email="Shared@X.example")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(
            EMAILS, {"to_email": "shared@x.example", "subject": "Hi", "body_text": "Body"}, format="json"
        )

    assert response.status_code == 201, response.content
    assert response.json()["contact"] == str(own.id)
    assert mail.outbox[0].to == ["shared@x.example"]


def test_compose_with_a_template_renders_it_for_contact_deal_and_sender(
    client_a, company_a, user_a, django_capture_on_commit_callbacks
):
    """A template's merge fields are filled from the deal, its contact and the sender."""
    user_a.full_name = "Grace Hopper"
    with as_the_platform_unaudited():
        user_a.save()
    deal = DealFactory(account__company=company_a, name="Renewal", amount="12500.00", currency="EUR")
    deal.contact.first_name, deal.contact.email = "Ada <b>", "ada@a.example"
    with company_context(company_a):
        deal.contact.save()
    template = EmailTemplateFactory(
        company=company_a,
        subject="{{ deal.name }} for {{ contact.first_name }}",
        body_text="{{ deal.amount }} {{ deal.currency }} from {{ sender.full_name }} at {{ company.name }}",
        body_html="<p>Dear {{ contact.first_name }}</p>",
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(EMAILS, {"deal": str(deal.id), "template": str(template.id)}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["contact"] == str(deal.contact_id)
    assert body["template"] == str(template.id)
    assert body["subject"] == "Renewal for Ada <b>"
    assert body["body_text"] == "12,500.00 EUR from Grace Hopper at Company A"
    assert body["body_html"] == "<p>Dear Ada &lt;b&gt;</p>"
    assert mail.outbox[0].to == ["ada@a.example"]


def test_typed_parts_override_the_template(
    client_a, company_a, recipient_a, django_capture_on_commit_callbacks
):
    """A subject typed with a template is sent as typed; the body still comes from the template."""
    template = EmailTemplateFactory(
        company=company_a, subject="Template subject", body_text="Hi {{ contact.first_name }}"
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(
            EMAILS,
            {"contact": str(recipient_a.id), "template": str(template.id), "subject": "My own subject"},
            format="json",
        )

    assert response.status_code == 201, response.content
    assert (mail.outbox[0].subject, mail.outbox[0].body) == ("My own subject", "Hi Ada")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"subject": "Hi", "body_text": "Body"}, "to_email"),
        ({"to_email": "someone@x.example", "body_text": "Body"}, "subject"),
        ({"to_email": "someone@x.example", "subject": "Hi"}, "body_text"),
        ({"to_email": "not-an-address", "subject": "Hi", "body_text": "Body"}, "to_email"),
        (
            {"to_email": "someone@x.example", "subject": "Hi\nBcc: all@x.example", "body_text": "Body"},
            "subject",
        ),
    ],
)
def test_incomplete_email_is_a_400_on_the_field_and_stores_nothing(client_a, company_a, payload, field):
    """A missing recipient, subject or body, a bad address or a two-line subject is refused."""
    response = client_a.post(EMAILS, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    with company_context(company_a):
        assert not Email.objects.exists()
    assert mail.outbox == []


def test_contact_without_an_address_is_a_409(client_a, company_a):
    """Sending to a contact with no e-mail address is a conflict with that record; nothing is stored."""
    contact = ContactFactory(company=company_a, email="")

    response = client_a.post(
        EMAILS, {"contact": str(contact.id), "subject": "Hi", "body_text": "B"}, format="json"
    )

    assert response.status_code == 409
    assert "no e-mail address" in response.json()["detail"]
    with company_context(company_a):
        assert not Email.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"to_email": "someone@x.example", "subject": "Hi", "body_text": "Body"},
        {"to_email": "someone@x.example", "subject": "  Hi  \n", "body_text": " "},
        {"to_email": "someone@x.example"},
        {"to_email": "someone@x.example", "subject": "   ", "body_text": "Body"},
        {"to_email": "someone@x.example", "subject": "Hi", "body_text": ""},
        {"to_email": "someone@x.example", "subject": "Hi\nBcc: all@x.example", "body_text": "Body"},
        {"to_email": "", "subject": "Hi", "body_text": "Body"},
    ],
)
def test_the_compose_schema_states_which_bodies_are_accepted(client_a, company_a, payload):
    """A body the published schema allows is sent, one it refuses is a 400: recipient and content rules."""
    schema = client_a.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    valid = jsonschema.Draft7Validator(schema["EmailComposeRequest"]).is_valid(payload)

    response = client_a.post(EMAILS, payload, format="json")

    assert response.status_code == (201 if valid else 400), response.content


@pytest.mark.parametrize("field", ["contact", "deal", "template"])
def test_other_companys_records_cannot_be_referenced(client_b, company_a, company_b, field):
    """Company B naming A's contact, deal or template is a 400 on that field and sends nothing."""
    foreign = {
        "contact": lambda: ContactFactory(company=company_a),
        "deal": lambda: DealFactory(account__company=company_a),
        "template": lambda: EmailTemplateFactory(company=company_a),
    }[field]()

    response = client_b.post(
        EMAILS,
        {"to_email": "x@b.example", "subject": "Hi", "body_text": "B", field: str(foreign.id)},
        format="json",
    )

    assert response.status_code == 400
    assert field in response.json()
    with company_context(company_b):
        assert not Email.objects.exists()
    assert mail.outbox == []


# Failures, claims and the outbox


def test_failed_send_is_recorded_and_notifies_the_sender(
    client_a, user_a, company_a, company_b, refusing_backend, django_capture_on_commit_callbacks
):
    """The mail server's refusal is stored on the e-mail and the sender is told; company B hears nothing."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(
            EMAILS, {"to_email": f"nobody@{REFUSED_DOMAIN}", "subject": "Hi", "body_text": "B"}, format="json"
        )

    assert response.status_code == 201
    email = stored(Email, response.json()["id"])
    assert email.status == "failed"
    assert "SMTPRecipientsRefused" in email.error_message and "No such user" in email.error_message
    assert email.sent_at is None
    assert mail.outbox == []
    with company_context(company_a):
        [notice] = Notification.objects.all()
    assert (notice.user_id, notice.kind, notice.target_id) == (user_a.id, "send_failed", email.id)
    assert f"nobody@{REFUSED_DOMAIN}" in notice.title
    with company_context(company_b):
        assert not Notification.objects.exists()


def test_a_redelivered_task_sends_once(company_a, recipient_a):
    """The task claims the queued row, so running it twice sends one message."""
    email = EmailFactory(contact=recipient_a, status=Email.Status.QUEUED)
    kwargs = {"company_id": str(company_a.id), "email_id": str(email.id)}

    send_email.apply(kwargs=kwargs, throw=True)
    send_email.apply(kwargs=kwargs, throw=True)

    assert len(mail.outbox) == 1
    assert (stored(Email, email.id).status, stored(Email, email.id).attempts) == ("sent", 1)


def test_the_other_companys_task_cannot_send_an_email(company_a, company_b, recipient_a):
    """A task run in company B with A's e-mail id finds nothing and sends nothing."""
    email = EmailFactory(contact=recipient_a, status=Email.Status.QUEUED)

    send_email.apply(kwargs={"company_id": str(company_b.id), "email_id": str(email.id)}, throw=True)

    assert mail.outbox == []
    assert stored(Email, email.id).status == "queued"


def test_an_email_deleted_while_queued_is_not_sent(client_a, company_a, recipient_a):
    """Deleting a queued e-mail keeps it from being sent."""
    email = EmailFactory(contact=recipient_a, status=Email.Status.QUEUED)

    assert client_a.delete(f"{EMAILS}/{email.id}").status_code == 204
    send_email.apply(kwargs={"company_id": str(company_a.id), "email_id": str(email.id)}, throw=True)

    assert mail.outbox == []
    assert stored(Email, email.id).is_deleted is True
    assert stored(Email, email.id).status == "queued"


def test_an_email_whose_task_was_lost_is_sent_by_the_outbox(
    client_a, recipient_a, settings, django_capture_on_commit_callbacks
):
    """When the broker loses the task, the outbox queues the recorded e-mail again and it is sent once."""
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 60
    with django_capture_on_commit_callbacks(execute=False):
        response = client_a.post(
            EMAILS, {"contact": str(recipient_a.id), "subject": "Hi", "body_text": "Body"}, format="json"
        )
    email_id = response.json()["id"]
    with unscoped():
        Email._base_manager.filter(pk=email_id).update(updated_at=timezone.now() - timedelta(minutes=5))

    requeue_stalled_sends.apply(throw=True)
    requeue_stalled_sends.apply(throw=True)

    assert stored(Email, email_id).status == "sent"
    assert len(mail.outbox) == 1


# Reading, changing and deleting


def test_filters_and_search_stay_inside_the_company(client_a, client_b, company_a, company_b, recipient_a):
    """?status, ?contact and ?search find the company's own e-mails and never the other's."""
    sent = EmailFactory(contact=recipient_a, status="sent", subject="Quarterly review")
    failed = EmailFactory(contact=recipient_a, status="failed", subject="Invoice")
    other = EmailFactory(contact__company=company_a, status="sent", subject="Quarterly plan")
    foreign = EmailFactory(contact__company=company_b, status="sent", subject="Quarterly review")

    assert listed_ids(client_a, status="sent") == {str(sent.id), str(other.id)}
    assert listed_ids(client_a, status="failed") == {str(failed.id)}
    assert listed_ids(client_a, contact=str(recipient_a.id)) == {str(sent.id), str(failed.id)}
    assert listed_ids(client_a, search="quarterly") == {str(sent.id), str(other.id)}
    assert listed_ids(client_a, search=recipient_a.email) == {str(sent.id), str(failed.id)}
    assert listed_ids(client_b, search="quarterly") == {str(foreign.id)}
    assert listed_ids(client_b, contact=str(recipient_a.id)) == set()
    assert client_a.get(EMAILS, {"status": "bogus"}).status_code == 400


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_email_cannot_be_changed_once_queued(client_a, recipient_a, method):
    """PUT and PATCH are a 409 saying why, and the e-mail stays as it was."""
    email = EmailFactory(contact=recipient_a, subject="Original")

    response = getattr(client_a, method)(
        f"{EMAILS}/{email.id}",
        {"to_email": "x@a.example", "subject": "Changed", "body_text": "B"},
        format="json",
    )

    assert response.status_code == 409
    assert "cannot be changed" in response.json()["detail"]
    assert stored(Email, email.id).subject == "Original"


def test_delete_hides_own_email_and_not_the_other_companys(client_a, client_b, recipient_a):
    """DELETE soft-deletes the company's own e-mail; the other company gets a 404 and changes nothing."""
    email = EmailFactory(contact=recipient_a)

    assert client_b.delete(f"{EMAILS}/{email.id}").status_code == 404
    assert stored(Email, email.id).is_deleted is False
    assert client_a.delete(f"{EMAILS}/{email.id}").status_code == 204
    assert stored(Email, email.id).is_deleted is True
    assert str(email.id) not in listed_ids(client_a)


def test_super_admin_sends_inside_the_selected_company(
    admin_client_api, company_a, recipient_a, django_capture_on_commit_callbacks
):
    """A super admin composes with X-Company-ID; without it the write is refused."""
    payload = {"contact": str(recipient_a.id), "subject": "Hi", "body_text": "B"}

    refused = admin_client_api.post(EMAILS, payload, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        accepted = admin_client_api.post(EMAILS, payload, format="json", HTTP_X_COMPANY_ID=str(company_a.id))

    assert refused.status_code == 400
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["company"] == str(company_a.id)
    assert len(mail.outbox) == 1


def test_failure_notice_goes_to_managers_when_the_sender_is_gone(company_a, recipient_a, refusing_backend):
    """An e-mail whose sender was removed still reports its failure, to the company's owners."""
    owner = UserFactory(company=company_a, role="owner")
    email = EmailFactory(contact=recipient_a, user=None, to_email=f"x@{REFUSED_DOMAIN}", status="queued")

    send_email.apply(kwargs={"company_id": str(company_a.id), "email_id": str(email.id)}, throw=True)

    with company_context(company_a):
        notified = set(Notification.objects.values_list("user_id", flat=True))
    assert owner.id in notified
    assert stored(Email, email.id).status == "failed"
