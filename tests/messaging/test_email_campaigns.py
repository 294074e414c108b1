"""E-mail campaigns over REST: recipients by contact filter, sent now or scheduled, in batches, counted."""

from datetime import timedelta

import pytest
from celery.signals import task_prerun
from django.core import mail
from django.utils import timezone

from messaging.models import Email, EmailCampaign, Notification
from messaging.services import campaigns as email_service
from messaging.tasks.campaigns import dispatch_due_campaigns
from tenancy.context import company_context

from ..factories import (
    AccountFactory,
    ContactFactory,
    EmailCampaignFactory,
    EmailTemplateFactory,
    UserFactory,
)
from ..unscoped import stored, unscoped

CAMPAIGNS = "/api/email-campaigns"
# The mail server of tests/messaging/test_email.py refuses every address at refused.example.
REFUSING_BACKEND = "tests.messaging.test_email.RefusingBackend"


@pytest.fixture
def refusing_backend(settings):
    settings.EMAIL_BACKEND = REFUSING_BACKEND


@pytest.fixture
def started_tasks():
    """(task name, kwargs) of every Celery task run during the test."""
    runs: list[tuple[str, dict]] = []

    def record(sender=None, kwargs=None, **_):
        runs.append((sender.name, kwargs))

    task_prerun.connect(record, weak=False)
    yield runs
    task_prerun.disconnect(record)


def campaign_of(company, **fields) -> EmailCampaign:
    """A draft campaign of a company whose template greets the contact by first name."""
    template = EmailTemplateFactory(
        company=company, subject="Hi {{ contact.first_name }}", body_text="Hello {{ contact.first_name }}"
    )
    return EmailCampaignFactory(template=template, **fields)


def emails_of(campaign) -> list[Email]:
    with company_context(campaign.company_id):
        return list(Email.objects.filter(campaign=campaign).order_by("to_email"))


def sent_to() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def send(client, campaign, capture):
    with capture(execute=True):
        return client.post(f"{CAMPAIGNS}/{campaign.id}/send")


# Creating and changing


def test_create_stores_a_draft_for_the_company(client_a, client_b, company_a, user_a):
    """A campaign is created as a draft of the creator's company with zero counts; B cannot read it."""
    template = EmailTemplateFactory(company=company_a)

    response = client_a.post(
        CAMPAIGNS,
        {
            "name": "Launch",
            "template": str(template.id),
            "recipient_filter": {"search": "acme", "email": "a@x.io"},
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["user"], body["company"]) == ("draft", str(user_a.id), str(company_a.id))
    assert body["recipient_filter"] == {"search": "acme", "email": "a@x.io"}
    assert body["counts"] == {"queued": 0, "sending": 0, "sent": 0, "failed": 0, "total": 0}
    assert client_b.get(f"{CAMPAIGNS}/{body['id']}").status_code == 404


def test_the_schema_of_recipient_filter_names_every_filter_the_server_takes(client_a):
    """recipient_filter is an object of exactly the server's filter keys, each a string."""
    schema = client_a.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    stated = schema["EmailCampaignRequest"]["properties"]["recipient_filter"]

    assert stated["type"] == "object" and stated["additionalProperties"] is False
    assert set(stated["properties"]) == set(email_service.recipient_filter_keys())
    assert {
        variant["type"] for value in stated["properties"].values() for variant in value.get("anyOf", [value])
    } == {"string"}


def test_empty_recipient_filters_filter_nothing_and_are_not_stored(client_a, company_a):
    """ "" for any filter is no filter, as in the query string; the stored filter keeps only the others."""
    template = EmailTemplateFactory(company=company_a)
    recipient_filter = {"account": "", "created_before": "", "search": "acme", "email": ""}

    response = client_a.post(
        CAMPAIGNS,
        {"name": "Launch", "template": str(template.id), "recipient_filter": recipient_filter},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert response.json()["recipient_filter"] == {"search": "acme"}


@pytest.mark.parametrize(
    ("recipient_filter", "named"),
    [
        ({"stage": "won"}, "stage"),
        ({"company": "anything"}, "company"),
        ({"account": "not-a-uuid"}, "account"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"search": ["a", "b"]}, "search"),
        ({"email": 5}, "email"),
        ({"account": " 6adbc050-86d5-4c54-bfce-99aa6963a1f6"}, "account"),
        ({"owner": "6adbc05086d54c54bfce99aa6963a1f6"}, "owner"),
        ({"created_after": " 2000-01-01T00:00:00Z"}, "created_after"),
        (["account"], "JSON object"),
    ],
)
def test_a_bad_recipient_filter_is_a_400_naming_it(client_a, company_a, recipient_filter, named):
    """Unknown keys, malformed values and non-objects are refused on recipient_filter; nothing is stored."""
    template = EmailTemplateFactory(company=company_a)

    response = client_a.post(
        CAMPAIGNS,
        {"name": "Launch", "template": str(template.id), "recipient_filter": recipient_filter},
        format="json",
    )

    assert response.status_code == 400
    assert named in " ".join(response.json()["recipient_filter"])
    with company_context(company_a):
        assert not EmailCampaign.objects.exists()


def test_the_other_companys_template_is_a_400(client_b, company_a, company_b):
    """Company B cannot build a campaign on company A's template."""
    template = EmailTemplateFactory(company=company_a)

    response = client_b.post(CAMPAIGNS, {"name": "Launch", "template": str(template.id)}, format="json")

    assert response.status_code == 400
    assert "template" in response.json()
    with company_context(company_b):
        assert not EmailCampaign.objects.exists()


def test_a_sent_campaign_cannot_be_changed(client_a, company_a):
    """Editing a campaign that has been sent is a 400 and changes nothing."""
    campaign = campaign_of(company_a, name="Launch", status=EmailCampaign.Status.SENT)

    response = client_a.patch(f"{CAMPAIGNS}/{campaign.id}", {"name": "Relaunch"}, format="json")

    assert response.status_code == 400
    assert "sent" in response.json()["detail"]
    assert stored(EmailCampaign, campaign.id).name == "Launch"


# Recipients


def test_filter_selects_only_the_campaigns_companys_matching_contacts(
    client_a, company_a, company_b, django_capture_on_commit_callbacks
):
    """The filter reaches company A's matching contacts only, though B has contacts that match it too."""
    acme = AccountFactory(company=company_a, name="Acme")
    ContactFactory(company=company_a, account=acme, first_name="Ann", email="ann@acme.example")
    ContactFactory(company=company_a, account=acme, first_name="Art", email="art@acme.example")
    ContactFactory(company=company_a, first_name="Zed", email="zed@other.example")
    ContactFactory(company=company_b, first_name="Ann", email="ann@acme.example")
    ContactFactory(company=company_b, first_name="Bea", email="bea@acme.example")
    by_account = campaign_of(company_a, recipient_filter={"account": str(acme.id)})
    by_search = campaign_of(company_a, recipient_filter={"search": "acme.example"})

    send(client_a, by_account, django_capture_on_commit_callbacks)
    assert sent_to() == ["ann@acme.example", "art@acme.example"]
    mail.outbox.clear()
    send(client_a, by_search, django_capture_on_commit_callbacks)

    assert sent_to() == ["ann@acme.example", "art@acme.example"]
    assert {message.subject for message in mail.outbox} == {"Hi Ann", "Hi Art"}
    for email in emails_of(by_search):
        assert email.company_id == company_a.id
        with unscoped():
            assert email.contact.company_id == company_a.id


def test_contacts_without_an_address_are_skipped_and_addresses_deduplicated(
    client_a, company_a, django_capture_on_commit_callbacks
):
    """Each address gets one e-mail, whatever its case, and contacts with no address none."""
    ContactFactory(company=company_a, email="ann@acme.example")
    ContactFactory(company=company_a, email="ANN@Acme.example")
    ContactFactory(company=company_a, email="")
    ContactFactory(company=company_a, email="bo@acme.example")
    campaign = campaign_of(company_a)

    send(client_a, campaign, django_capture_on_commit_callbacks)

    assert sent_to() == ["ann@acme.example", "bo@acme.example"]
    assert [email.to_email for email in emails_of(campaign)] == ["ann@acme.example", "bo@acme.example"]


def test_preview_recipients_counts_and_lists_without_sending(client_a, client_b, company_a, company_b):
    """The preview shows who would receive the campaign, a page at a time, and records nothing."""
    for n in range(3):
        ContactFactory(
            company=company_a, first_name=f"Ann{n}", last_name="Acme", email=f"ann{n}@acme.example"
        )
    ContactFactory(company=company_b, first_name="Bea", last_name="Acme", email="bea@acme.example")
    campaign = campaign_of(company_a, recipient_filter={"search": "acme"})

    response = client_a.get(f"{CAMPAIGNS}/{campaign.id}/preview-recipients", {"page_size": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [row["email"] for row in body["results"]] == ["ann0@acme.example", "ann1@acme.example"]
    assert body["results"][0]["full_name"] == "Ann0 Acme"
    assert body["next"] is not None
    assert emails_of(campaign) == []
    assert client_b.get(f"{CAMPAIGNS}/{campaign.id}/preview-recipients").status_code == 404


# Sending, counts and per-recipient status


def test_counts_and_per_recipient_status_after_one_send_fails(
    client_a, client_b, company_a, user_a, refusing_backend, django_capture_on_commit_callbacks
):
    """Three recipients with one refused address: 2 sent, 1 failed, and the campaign is sent."""
    for address in ("ann@acme.example", "bo@acme.example", "cy@refused.example"):
        ContactFactory(company=company_a, email=address)
    campaign = campaign_of(company_a, user=user_a)

    response = send(client_a, campaign, django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.content
    detail = client_a.get(f"{CAMPAIGNS}/{campaign.id}").json()
    assert detail["counts"] == {"queued": 0, "sending": 0, "sent": 2, "failed": 1, "total": 3}
    assert detail["status"] == "sent"
    assert detail["completed_at"] is not None and detail["started_at"] is not None
    listed = client_a.get(CAMPAIGNS).json()["results"]
    assert [row["counts"]["sent"] for row in listed] == [2]

    recipients = client_a.get(f"{CAMPAIGNS}/{campaign.id}/recipients").json()
    statuses = {row["to_email"]: (row["status"], row["error_message"]) for row in recipients["results"]}
    assert recipients["count"] == 3
    assert statuses["ann@acme.example"] == ("sent", "")
    assert statuses["cy@refused.example"][0] == "failed"
    assert "No such user" in statuses["cy@refused.example"][1]
    failed = client_a.get(f"{CAMPAIGNS}/{campaign.id}/recipients", {"status": "failed"}).json()
    assert [row["to_email"] for row in failed["results"]] == ["cy@refused.example"]
    assert sent_to() == ["ann@acme.example", "bo@acme.example"]

    with company_context(company_a):
        [notice] = Notification.objects.filter(target_id=campaign.id)
    assert (notice.user_id, notice.kind) == (user_a.id, "send_failed")
    assert "2 sent, 1 failed" in notice.title
    assert client_b.get(f"{CAMPAIGNS}/{campaign.id}/recipients").status_code == 404


def test_counts_are_one_aggregate_query(company_a, django_assert_num_queries):
    """The campaign's counts come from a single query, however many e-mails it has."""
    campaign = campaign_of(company_a)
    with company_context(company_a):
        Email.objects.bulk_create(
            Email(campaign=campaign, to_email=f"r{n}@x.example", subject="s", body_text="b", status=status)
            for n, status in enumerate(["queued", "sent", "sent", "failed", "sending"])
        )
        with django_assert_num_queries(1):
            counts = email_service.campaign_counts(campaign)
    assert counts == {"queued": 1, "sending": 1, "sent": 2, "failed": 1, "total": 5}


def test_sending_fans_out_in_batches(
    client_a, company_a, settings, started_tasks, django_capture_on_commit_callbacks
):
    """Five recipients with batches of two are sent by three batch tasks, each e-mail in one of them."""
    settings.EMAIL_CAMPAIGN_BATCH_SIZE = 2
    for n in range(5):
        ContactFactory(company=company_a, email=f"r{n}@acme.example")
    campaign = campaign_of(company_a)

    send(client_a, campaign, django_capture_on_commit_callbacks)

    batches = [kwargs for name, kwargs in started_tasks if name == "messaging.send_campaign_batch"]
    assert [len(batch["email_ids"]) for batch in batches] == [2, 2, 1]
    assert {batch["company_id"] for batch in batches} == {str(company_a.id)}
    assert sorted(i for batch in batches for i in batch["email_ids"]) == sorted(
        str(email.id) for email in emails_of(campaign)
    )
    assert len(mail.outbox) == 5
    assert stored(EmailCampaign, campaign.id).status == "sent"


def test_dispatching_twice_sends_once(company_a, django_capture_on_commit_callbacks):
    """Recording and queuing a campaign's recipients twice stores and sends each e-mail once."""
    for address in ("ann@acme.example", "bo@acme.example"):
        ContactFactory(company=company_a, email=address)
    campaign = campaign_of(company_a, status=EmailCampaign.Status.SENDING)

    with company_context(company_a), django_capture_on_commit_callbacks(execute=True):
        first = email_service.dispatch_campaign(campaign)
        second = email_service.dispatch_campaign(campaign)

    assert first == second == 2
    assert sent_to() == ["ann@acme.example", "bo@acme.example"]
    assert [email.status for email in emails_of(campaign)] == ["sent", "sent"]
    assert stored(EmailCampaign, campaign.id).status == "sent"


def test_sending_twice_is_a_400_and_sends_nothing_more(
    client_a, company_a, django_capture_on_commit_callbacks
):
    """A second send of the same campaign is refused and no recipient gets a second e-mail."""
    ContactFactory(company=company_a, email="ann@acme.example")
    campaign = campaign_of(company_a)

    first = send(client_a, campaign, django_capture_on_commit_callbacks)
    second = send(client_a, campaign, django_capture_on_commit_callbacks)

    assert first.status_code == 200
    assert second.status_code == 400
    assert "sent" in second.json()["detail"]
    assert sent_to() == ["ann@acme.example"]


def test_a_campaign_reaching_nobody_is_not_sent(client_a, company_a, django_capture_on_commit_callbacks):
    """Sending when no contact matches is a 400 and the campaign stays a draft."""
    ContactFactory(company=company_a, email="ann@acme.example")
    campaign = campaign_of(company_a, recipient_filter={"search": "nobody-matches-this"})

    response = send(client_a, campaign, django_capture_on_commit_callbacks)

    assert response.status_code == 400
    assert "No contact" in response.json()["detail"]
    assert stored(EmailCampaign, campaign.id).status == "draft"
    assert emails_of(campaign) == []


def test_the_other_company_cannot_act_on_a_campaign(client_b, company_a, django_capture_on_commit_callbacks):
    """Company B's send, schedule and cancel of company A's campaign are 404s and change nothing."""
    ContactFactory(company=company_a, email="ann@acme.example")
    campaign = campaign_of(company_a)
    later = (timezone.now() + timedelta(days=1)).isoformat()

    with django_capture_on_commit_callbacks(execute=True):
        responses = [
            client_b.post(f"{CAMPAIGNS}/{campaign.id}/send"),
            client_b.post(f"{CAMPAIGNS}/{campaign.id}/schedule", {"scheduled_at": later}, format="json"),
            client_b.post(f"{CAMPAIGNS}/{campaign.id}/cancel"),
        ]

    assert [response.status_code for response in responses] == [404, 404, 404]
    assert (stored(EmailCampaign, campaign.id).status, stored(EmailCampaign, campaign.id).scheduled_at) == (
        "draft",
        None,
    )
    assert mail.outbox == []


# Scheduling and cancelling


def test_scheduled_campaign_is_sent_by_the_beat_job_only_when_due(
    client_a, company_a, django_capture_on_commit_callbacks
):
    """Scheduled for tomorrow, the periodic job leaves it; once due, the job sends it, and only once."""
    ContactFactory(company=company_a, email="ann@acme.example")
    campaign = campaign_of(company_a)
    tomorrow = timezone.now() + timedelta(days=1)

    response = client_a.post(
        f"{CAMPAIGNS}/{campaign.id}/schedule", {"scheduled_at": tomorrow.isoformat()}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "scheduled"
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_due_campaigns.apply(throw=True).result == 0
    assert mail.outbox == []
    assert stored(EmailCampaign, campaign.id).status == "scheduled"

    with company_context(company_a):
        EmailCampaign.objects.filter(pk=campaign.pk).update(
            scheduled_at=timezone.now() - timedelta(minutes=1)
        )
    with django_capture_on_commit_callbacks(execute=True):
        # Two beat runs before a worker starts it: the campaign is claimed once.
        assert dispatch_due_campaigns.apply(throw=True).result == 1
        assert dispatch_due_campaigns.apply(throw=True).result == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch_due_campaigns.apply(throw=True).result == 0

    assert sent_to() == ["ann@acme.example"]
    assert stored(EmailCampaign, campaign.id).status == "sent"


def test_due_campaigns_of_each_company_reach_only_their_own_contacts(
    company_a, company_b, django_capture_on_commit_callbacks
):
    """The platform job starts each company's due campaign inside that company."""
    ContactFactory(company=company_a, email="ann@a.example")
    ContactFactory(company=company_b, email="bea@b.example")
    past = timezone.now() - timedelta(minutes=5)
    campaign_a = campaign_of(company_a, status=EmailCampaign.Status.SCHEDULED, scheduled_at=past)
    campaign_b = campaign_of(company_b, status=EmailCampaign.Status.SCHEDULED, scheduled_at=past)

    with django_capture_on_commit_callbacks(execute=True):
        dispatch_due_campaigns.apply(throw=True)

    assert [email.to_email for email in emails_of(campaign_a)] == ["ann@a.example"]
    assert [email.to_email for email in emails_of(campaign_b)] == ["bea@b.example"]
    assert sent_to() == ["ann@a.example", "bea@b.example"]
    assert (
        stored(EmailCampaign, campaign_a.id).status == stored(EmailCampaign, campaign_b.id).status == "sent"
    )


def test_scheduling_in_the_past_is_a_400(client_a, company_a):
    """A schedule time that has passed is refused and the campaign stays a draft."""
    campaign = campaign_of(company_a)
    past = (timezone.now() - timedelta(minutes=1)).isoformat()

    response = client_a.post(f"{CAMPAIGNS}/{campaign.id}/schedule", {"scheduled_at": past}, format="json")

    assert response.status_code == 400
    assert "future" in response.json()["scheduled_at"][0]
    assert (stored(EmailCampaign, campaign.id).status, stored(EmailCampaign, campaign.id).scheduled_at) == (
        "draft",
        None,
    )


def test_a_cancelled_scheduled_campaign_is_never_sent(
    client_a, company_a, django_capture_on_commit_callbacks
):
    """Cancelled before its time, the campaign is skipped by the beat job even after it falls due."""
    ContactFactory(company=company_a, email="ann@acme.example")
    campaign = campaign_of(
        company_a, status=EmailCampaign.Status.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1)
    )

    response = client_a.post(f"{CAMPAIGNS}/{campaign.id}/cancel")
    with company_context(company_a):
        EmailCampaign.objects.filter(pk=campaign.pk).update(
            scheduled_at=timezone.now() - timedelta(minutes=1)
        )
    with django_capture_on_commit_callbacks(execute=True):
        dispatch_due_campaigns.apply(throw=True)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert mail.outbox == []
    assert emails_of(campaign) == []


def test_cancelling_while_sending_stops_the_unsent_emails(
    company_a, client_a, django_capture_on_commit_callbacks
):
    """E-mails still queued when the campaign is cancelled are never sent and say why."""
    for address in ("ann@acme.example", "bo@acme.example"):
        ContactFactory(company=company_a, email=address)
    campaign = campaign_of(company_a, status=EmailCampaign.Status.SENDING)
    with company_context(company_a), django_capture_on_commit_callbacks(execute=False) as batches:
        email_service.dispatch_campaign(campaign)

    response = client_a.post(f"{CAMPAIGNS}/{campaign.id}/cancel")
    for batch in batches:
        batch()

    assert response.status_code == 200
    assert response.json()["counts"] == {"queued": 0, "sending": 0, "sent": 0, "failed": 2, "total": 2}
    assert mail.outbox == []
    assert {email.error_message for email in emails_of(campaign)} == {
        "Campaign cancelled before this e-mail was sent."
    }
    assert stored(EmailCampaign, campaign.id).status == "cancelled"


def test_a_sent_campaign_cannot_be_cancelled(client_a, company_a):
    """Cancelling after the campaign was sent is a 400 and it stays sent."""
    campaign = campaign_of(company_a, status=EmailCampaign.Status.SENT)

    response = client_a.post(f"{CAMPAIGNS}/{campaign.id}/cancel")

    assert response.status_code == 400
    assert stored(EmailCampaign, campaign.id).status == "sent"


def test_a_sending_campaign_cannot_be_deleted(client_a, company_a):
    """DELETE while sending is a 400; a finished campaign is soft-deleted."""
    sending = campaign_of(company_a, status=EmailCampaign.Status.SENDING)
    finished = campaign_of(company_a, status=EmailCampaign.Status.SENT)

    assert client_a.delete(f"{CAMPAIGNS}/{sending.id}").status_code == 400
    assert stored(EmailCampaign, sending.id).is_deleted is False
    assert client_a.delete(f"{CAMPAIGNS}/{finished.id}").status_code == 204
    assert stored(EmailCampaign, finished.id).is_deleted is True


def test_campaign_emails_come_from_the_campaign_owner(
    company_a, settings, django_capture_on_commit_callbacks
):
    """Each recipient's e-mail is sent under the campaign owner's name with replies to them."""
    settings.DEFAULT_FROM_EMAIL = "crm@mail.example"
    owner = UserFactory(company=company_a, full_name="Grace Hopper", email="grace@a.example")
    ContactFactory(company=company_a, first_name="Ann", email="ann@acme.example")
    campaign = campaign_of(company_a, user=owner)

    with company_context(company_a), django_capture_on_commit_callbacks(execute=True):
        email_service.send_campaign_now(campaign)

    [message] = mail.outbox
    assert message.from_email == "Grace Hopper <crm@mail.example>"
    assert message.reply_to == ["grace@a.example"]
    assert message.subject == "Hi Ann"
    [email] = emails_of(campaign)
    assert (email.user_id, email.template_id, email.message_id) == (
        owner.id,
        campaign.template_id,
        message.extra_headers["Message-ID"],
    )
