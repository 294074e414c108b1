"""SMS over REST: sending through Twilio (faked at its HTTP transport), opt-out, conversations, outages."""

from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from config.celery import app as celery_app
from core.tasks import requeue_stalled_sends
from crm.models import Contact
from messaging.models import Notification, SmsMessage
from messaging.tasks.sms import send_sms
from tenancy.context import company_context

from ..conftest import bearer_client
from ..factories import (
    ContactFactory,
    PhoneNumberFactory,
    SmsMessageFactory,
    UserFactory,
)

MESSAGES = "/api/sms/messages"
CONVERSATIONS = "/api/sms/conversations"


def messages_of(company, **lookup) -> list[SmsMessage]:
    with company_context(company):
        return list(SmsMessage.objects.filter(**lookup).order_by("created_at"))


def refreshed(message: SmsMessage) -> SmsMessage:
    with company_context(message.company_id):
        return SmsMessage.objects.get(pk=message.pk)


def notifications(company, **lookup) -> list[Notification]:
    with company_context(company):
        return list(Notification.objects.filter(**lookup))


def send(client, capture, body: dict):
    """POST a text and run what was queued at commit, as the worker would."""
    with capture(execute=True):
        return client.post(MESSAGES, body, format="json")


# Sending


@pytest.mark.django_db
def test_send_records_the_text_as_queued_before_twilio_sends_it(
    client_a, client_b, user_a, twilio_a, number_a, contact_a, twilio_fake, django_capture_on_commit_callbacks
):
    """The text is stored queued first; at commit it goes to Twilio with a status callback to our number."""
    with django_capture_on_commit_callbacks() as queued:
        response = client_a.post(MESSAGES, {"contact": str(contact_a.id), "body": "Hi Ada"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "queued"
    [message] = messages_of(contact_a.company)
    assert (message.status, message.user_id, message.contact_id) == ("queued", user_a.id, contact_a.id)
    assert (message.from_number, message.to_number, message.phone_number_id) == (
        "+12025550101",
        "+16175550111",
        number_a.id,
    )
    assert twilio_fake.sent("Messages") == []

    for callback in queued:
        callback()

    [request] = twilio_fake.sent("Messages")
    assert (request["To"], request["From"], request["Body"]) == ("+16175550111", "+12025550101", "Hi Ada")
    callback_url = urlparse(request["StatusCallback"])
    assert f"{callback_url.scheme}://{callback_url.netloc}" == django_settings.PUBLIC_BASE_URL
    assert callback_url.path == "/api/twilio/sms/status"
    assert parse_qs(callback_url.query) == {"number": ["+12025550101"]}
    [call] = [r for r in twilio_fake.requests if r["path"].endswith("/Messages.json")]
    assert call["auth"] == (twilio_a.account_sid, twilio_a.auth_token)
    message = refreshed(message)
    assert message.status == "sent" and message.twilio_sid.startswith("SM") and message.sent_at
    assert message.attempts == 1

    assert client_a.get(f"{MESSAGES}/{message.id}").json()["status"] == "sent"
    assert client_b.get(f"{MESSAGES}/{message.id}").status_code == 404
    assert client_b.get(MESSAGES).json()["count"] == 0


@pytest.mark.django_db
def test_send_to_a_number_links_the_company_contact_with_that_number(
    client_a, twilio_a, number_a, contact_a, company_b, twilio_fake, django_capture_on_commit_callbacks
):
    """`to` alone finds A's contact with that number, never B's contact with the same number."""
    ContactFactory(company=company_b, phone=contact_a.phone)

    response = send(client_a, django_capture_on_commit_callbacks, {"to": contact_a.phone, "body": "Hello"})

    assert response.status_code == 201, response.content
    assert response.json()["contact"] == str(contact_a.id)
    assert [request["To"] for request in twilio_fake.sent("Messages")] == [contact_a.phone]


@pytest.mark.django_db
def test_send_to_an_unknown_number_is_kept_without_a_contact(
    client_a, twilio_a, number_a, twilio_fake, django_capture_on_commit_callbacks
):
    """A number no contact has is texted all the same; the message is linked to no contact."""
    response = send(client_a, django_capture_on_commit_callbacks, {"to": "+447700900123", "body": "Hi"})

    assert response.status_code == 201, response.content
    assert response.json()["contact"] is None
    assert response.json()["to_number"] == "+447700900123"
    assert len(twilio_fake.sent("Messages")) == 1


@pytest.mark.django_db
def test_sender_number_defaults_to_the_senders_own_then_the_companys_first(
    company_a, user_a, twilio_a, contact_a, twilio_fake, django_capture_on_commit_callbacks
):
    """A user sends from their own number; a user without one from the company's first SMS number."""
    PhoneNumberFactory(company=company_a, number="+12025550001", sms_enabled=False)
    first = PhoneNumberFactory(company=company_a, number="+12025550002")
    own = PhoneNumberFactory(company=company_a, number="+12025550003", user=user_a)
    colleague = bearer_client(UserFactory(company=company_a))
    body = {"contact": str(contact_a.id), "body": "Hi"}

    mine = send(bearer_client(user_a), django_capture_on_commit_callbacks, body)
    theirs = send(colleague, django_capture_on_commit_callbacks, body)

    assert mine.json()["from_number"] == own.number
    assert theirs.json()["from_number"] == first.number
    assert [request["From"] for request in twilio_fake.sent("Messages")] == [own.number, first.number]


@pytest.mark.django_db
@pytest.mark.parametrize("given_as", ["id", "number"])
def test_sender_number_may_be_chosen_by_id_or_number(
    given_as,
    company_a,
    client_a,
    twilio_a,
    number_a,
    contact_a,
    twilio_fake,
    django_capture_on_commit_callbacks,
):
    """from_number picks another SMS-enabled number of the company, by id or by the number itself."""
    other = PhoneNumberFactory(company=company_a, number="+12025550909")
    chosen = str(other.id) if given_as == "id" else other.number

    response = send(
        client_a,
        django_capture_on_commit_callbacks,
        {"contact": str(contact_a.id), "body": "Hi", "from_number": chosen},
    )

    assert response.status_code == 201, response.content
    assert [request["From"] for request in twilio_fake.sent("Messages")] == [other.number]


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["other company's id", "other company's number", "not sms-enabled"])
def test_sender_number_of_another_company_or_without_sms_is_refused(
    which, company_a, client_a, twilio_a, number_a, number_b, contact_a, twilio_fake
):
    """Another company's number, by id or number, or a voice-only number, is a 400 and stores nothing."""
    voice_only = PhoneNumberFactory(company=company_a, number="+12025550808", sms_enabled=False)
    chosen = {
        "other company's id": str(number_b.id),
        "other company's number": number_b.number,
        "not sms-enabled": voice_only.number,
    }[which]

    response = client_a.post(
        MESSAGES, {"contact": str(contact_a.id), "body": "Hi", "from_number": chosen}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["detail"] == "from_number is not an SMS-enabled phone number of this company."
    assert messages_of(company_a) == []
    assert twilio_fake.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize("given", ["Front desk", "2025550909", "+0123", "12345678-1234-1234-1234-12345678"])
def test_sender_number_neither_an_id_nor_e164_is_a_400_on_the_field(
    given, company_a, client_a, twilio_a, number_a, contact_a, twilio_fake
):
    """from_number is an id or an E.164 number, as the schema says; anything else names the field."""
    response = client_a.post(
        MESSAGES, {"contact": str(contact_a.id), "body": "Hi", "from_number": given}, format="json"
    )

    assert response.status_code == 400
    assert "E.164" in response.json()["from_number"][0]
    assert messages_of(company_a) == []
    assert twilio_fake.requests == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("recipient", "accepted"),
    [
        ({"contact": "contact_a"}, True),
        ({"to": "+16175550199"}, True),
        ({}, False),
        ({"contact": None}, False),
        ({"to": ""}, False),
        ({"contact": None, "to": ""}, False),
    ],
)
def test_the_schema_and_the_server_agree_that_a_text_names_its_recipient(
    recipient,
    accepted,
    client_a,
    company_a,
    twilio_a,
    number_a,
    contact_a,
    twilio_fake,
    django_capture_on_commit_callbacks,
):
    """A contact or a `to` number is required, as the published schema's anyOf says."""
    body = {"body": "Hi", **{k: str(contact_a.id) if v == "contact_a" else v for k, v in recipient.items()}}
    schema = client_a.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"][
        "SmsSendRequest"
    ]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    assert validator.is_valid(body) is accepted

    response = send(client_a, django_capture_on_commit_callbacks, body)

    assert response.status_code == (201 if accepted else 400), response.content
    assert len(messages_of(company_a)) == (1 if accepted else 0)


@pytest.mark.django_db
def test_send_without_twilio_settings_is_refused_and_nothing_queued(
    client_a, company_a, number_a, contact_a, twilio_fake, django_capture_on_commit_callbacks
):
    """No Twilio account yet: a 409 that says where to add one, nothing stored, nothing queued."""
    with django_capture_on_commit_callbacks() as queued:
        response = client_a.post(MESSAGES, {"contact": str(contact_a.id), "body": "Hi"}, format="json")

    assert response.status_code == 409
    assert "/api/twilio-settings" in response.json()["detail"]
    assert messages_of(company_a) == []
    assert queued == []
    assert twilio_fake.requests == []


@pytest.mark.django_db
def test_send_without_an_sms_number_is_refused(client_a, company_a, twilio_a, contact_a, twilio_fake):
    """A company with no SMS-enabled number gets a 409 naming where to add one."""
    response = client_a.post(MESSAGES, {"contact": str(contact_a.id), "body": "Hi"}, format="json")

    assert response.status_code == 409
    assert "/api/sms/phone-numbers" in response.json()["detail"]
    assert messages_of(company_a) == []


@pytest.mark.django_db
@pytest.mark.parametrize("addressed_by", ["contact", "to"])
def test_send_to_an_opted_out_contact_is_refused(
    addressed_by,
    client_a,
    client_b,
    company_a,
    twilio_a,
    twilio_b,
    number_a,
    number_b,
    contact_a,
    twilio_fake,
):
    """A contact who replied STOP cannot be texted, by contact or by number; B's same number still can."""
    with company_context(company_a):
        Contact.objects.filter(pk=contact_a.pk).update(sms_opted_out=True, sms_opted_out_at=timezone.now())
    body = {"contact": str(contact_a.id)} if addressed_by == "contact" else {"to": contact_a.phone}

    response = client_a.post(MESSAGES, {**body, "body": "Hi"}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"] == "This contact has opted out of SMS (replied STOP)."
    assert messages_of(company_a) == []
    assert twilio_fake.requests == []
    other = client_b.post(MESSAGES, {"to": contact_a.phone, "body": "Hi"}, format="json")
    assert other.status_code == 201, other.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "+16175550123"}, "body"),
        ({"to": "+16175550123", "body": "   "}, "body"),
        ({"to": "+16175550123", "body": "x" * 1601}, "body"),
        ({"to": "6175550123", "body": "Hi"}, "to"),
        ({"to": "+1 617 555 0123", "body": "Hi"}, "to"),
        ({"body": "Hi"}, "to"),
    ],
    ids=["no body", "blank body", "body too long", "not e164", "spaces", "no recipient"],
)
def test_invalid_sends_are_refused_per_field(
    body, field, client_a, company_a, twilio_a, number_a, twilio_fake
):
    """A missing or too long body, or a number not in E.164 form, is a 400 on that field; nothing stored."""
    response = client_a.post(MESSAGES, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert messages_of(company_a) == []
    assert twilio_fake.requests == []


@pytest.mark.django_db
def test_a_body_of_1600_characters_is_sent(
    client_a, twilio_a, number_a, contact_a, twilio_fake, django_capture_on_commit_callbacks
):
    """1600 characters, Twilio's limit, is accepted."""
    response = send(
        client_a, django_capture_on_commit_callbacks, {"contact": str(contact_a.id), "body": "x" * 1600}
    )

    assert response.status_code == 201
    assert len(twilio_fake.sent("Messages")[0]["Body"]) == 1600


@pytest.mark.django_db
def test_contact_without_a_phone_needs_a_to_number(client_a, company_a, twilio_a, number_a):
    """A contact with no phone and no `to` is a 409 saying so (the contact's state, not the request)."""
    contact = ContactFactory(company=company_a, phone="")

    response = client_a.post(MESSAGES, {"contact": str(contact.id), "body": "Hi"}, format="json")

    assert response.status_code == 409
    assert "no phone number" in response.json()["detail"]


@pytest.mark.django_db
def test_twilio_error_marks_the_text_failed_and_notifies_the_sender(
    client_a, user_a, user_b, twilio_a, number_a, contact_a, twilio_fake, django_capture_on_commit_callbacks
):
    """Twilio refusing the text records its code and message on the row and tells the sender, once."""
    twilio_fake.fail_next(400, 21211, "The 'To' number +16175550111 is not a valid phone number.")

    response = send(
        client_a, django_capture_on_commit_callbacks, {"contact": str(contact_a.id), "body": "Hi"}
    )

    assert response.status_code == 201
    [message] = messages_of(contact_a.company)
    assert message.status == "failed"
    assert message.error_code == "21211"
    assert "not a valid phone number" in message.error_message
    assert message.twilio_sid is None
    [notice] = notifications(contact_a.company, kind="send_failed")
    assert (notice.user_id, notice.target_id) == (user_a.id, message.id)
    assert notifications(user_b.company) == []


@pytest.mark.django_db
def test_a_redelivered_or_foreign_task_sends_nothing_more(
    client_a, company_b, twilio_a, number_a, contact_a, twilio_fake, django_capture_on_commit_callbacks
):
    """The task claims its row: a second delivery, or one run as another company, sends nothing."""
    send(client_a, django_capture_on_commit_callbacks, {"contact": str(contact_a.id), "body": "Once"})
    [message] = messages_of(contact_a.company)

    send_sms.apply(kwargs={"company_id": str(message.company_id), "message_id": str(message.id)}, throw=True)
    with company_context(message.company_id):
        SmsMessage.objects.filter(pk=message.pk).update(status="queued")
    send_sms.apply(kwargs={"company_id": str(company_b.id), "message_id": str(message.id)}, throw=True)

    assert len(twilio_fake.sent("Messages")) == 1
    assert refreshed(message).status == "queued"


@contextmanager
def broker_unreachable():
    """Celery publishing to a broker on a closed port, as during a Redis outage; restored afterwards.

    The Celery app read the Django settings once, so the test changes the app's own configuration,
    and drops its connection pools so the next publish connects to the unreachable broker.
    """
    conf = celery_app.conf
    saved = {key: getattr(conf, key) for key in ("task_always_eager", "broker_url")}
    conf.update(task_always_eager=False, broker_url="redis://127.0.0.1:1/0")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(celery_app, "_pool", None)
            patch.setattr(celery_app.amqp, "_producer_pool", None)
            yield
    finally:
        conf.update(saved)


@pytest.mark.django_db
def test_a_send_survives_a_broker_outage_and_goes_out_once_when_it_returns(
    client_a, settings, caplog, twilio_a, number_a, contact_a, twilio_fake, django_capture_on_commit_callbacks
):
    """Broker down: the API still answers 201 and keeps the text queued; the outbox sends it once later."""
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 0
    with broker_unreachable():
        response = send(
            client_a, django_capture_on_commit_callbacks, {"contact": str(contact_a.id), "body": "Later"}
        )

    assert response.status_code == 201, response.content
    assert "could not queue messaging.send_sms" in caplog.text
    [message] = messages_of(contact_a.company)
    assert message.status == "queued"
    assert twilio_fake.requests == []

    assert requeue_stalled_sends() == 1
    assert requeue_stalled_sends() == 0

    [request] = twilio_fake.sent("Messages")
    assert (request["To"], request["Body"]) == (contact_a.phone, "Later")
    message = refreshed(message)
    assert message.status == "sent" and message.attempts == 1


@pytest.mark.django_db
def test_the_outbox_leaves_recent_queued_texts_to_their_own_task(
    client_a, settings, twilio_a, number_a, contact_a, twilio_fake, django_capture_on_commit_callbacks
):
    """A text queued moments ago is not queued again before OUTBOX_REQUEUE_AFTER_SECONDS pass."""
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 120
    with broker_unreachable():
        send(client_a, django_capture_on_commit_callbacks, {"contact": str(contact_a.id), "body": "Later"})

    assert requeue_stalled_sends() == 0
    assert twilio_fake.requests == []


# The message log


@pytest.mark.django_db
def test_message_list_filters_by_contact_direction_and_unread(
    client_a, client_b, company_a, number_a, number_b, contact_a
):
    """Filters narrow A's log; B's log never shows A's texts."""
    other = ContactFactory(company=company_a, phone="+16175550333")
    outbound = SmsMessageFactory(phone_number=number_a, contact=contact_a, to_number=contact_a.phone)
    inbound = SmsMessageFactory(
        phone_number=number_a,
        contact=contact_a,
        direction="inbound",
        status="received",
        from_number=contact_a.phone,
        to_number=number_a.number,
    )
    SmsMessageFactory(phone_number=number_a, contact=other, to_number=other.phone)
    theirs = SmsMessageFactory(phone_number=number_b, to_number=contact_a.phone)

    def ids(client, **params):
        return {row["id"] for row in client.get(MESSAGES, params).json()["results"]}

    assert ids(client_a, contact=str(contact_a.id)) == {str(outbound.id), str(inbound.id)}
    assert ids(client_a, direction="inbound") == {str(inbound.id)}
    assert ids(client_a, unread="true") == {str(inbound.id)}
    assert ids(client_a, number=contact_a.phone) == {str(outbound.id), str(inbound.id)}
    assert ids(client_b) == {str(theirs.id)}
    assert ids(client_b, number=contact_a.phone) == {str(theirs.id)}
    assert ids(client_b, contact=str(contact_a.id)) == set()


@pytest.mark.django_db
def test_a_message_can_be_filed_under_another_contact(client_a, client_b, company_a, number_a, contact_a):
    """PATCH contact re-files a text; the body, numbers and status cannot be changed; B gets 404."""
    message = SmsMessageFactory(
        phone_number=number_a, contact=None, to_number="+16175550999", body="Original"
    )

    response = client_a.patch(
        f"{MESSAGES}/{message.id}",
        {"contact": str(contact_a.id), "body": "Changed", "status": "delivered"},
        format="json",
    )
    refused = client_b.patch(f"{MESSAGES}/{message.id}", {"contact": None}, format="json")

    assert response.status_code == 200, response.content
    message = refreshed(message)
    assert (message.contact_id, message.body, message.status) == (contact_a.id, "Original", "sent")
    assert refused.status_code == 404
    assert refreshed(message).contact_id == contact_a.id


# Conversations


def minutes_ago(message: SmsMessage, minutes: int) -> SmsMessage:
    with company_context(message.company_id):
        SmsMessage.objects.filter(pk=message.pk).update(
            created_at=timezone.now() - timedelta(minutes=minutes)
        )
    return message


def inbound(number, contact, *, minutes: int, read: bool = False, from_number: str | None = None, **extra):
    return minutes_ago(
        SmsMessageFactory(
            phone_number=number,
            contact=contact,
            direction="inbound",
            status="received",
            from_number=from_number or contact.phone,
            to_number=number.number,
            read_at=timezone.now() if read else None,
            **extra,
        ),
        minutes,
    )


def outbound(number, contact, *, minutes: int, to_number: str | None = None, **extra):
    return minutes_ago(
        SmsMessageFactory(
            phone_number=number, contact=contact, to_number=to_number or contact.phone, **extra
        ),
        minutes,
    )


@pytest.mark.django_db
def test_conversations_list_one_entry_per_contact_with_latest_message_and_unread_count(
    client_a, client_b, company_a, number_a, number_b, contact_a, contact_b
):
    """Threads per contact, or per number without a contact, most recent first, with unread counts."""
    grace = ContactFactory(company=company_a, first_name="Grace", last_name="Hopper", phone="+16175550444")
    outbound(number_a, contact_a, minutes=30, body="Old")
    inbound(number_a, contact_a, minutes=20, body="Read reply", read=True)
    latest_ada = inbound(number_a, contact_a, minutes=10, body="Unread reply")
    inbound(number_a, contact_a, minutes=12, body="Another unread")
    latest_grace = outbound(number_a, grace, minutes=5, body="Hi Grace")
    stranger = inbound(number_a, None, minutes=40, from_number="+447700900555", body="Who is this?")
    inbound(number_b, contact_b, minutes=1, body="B's text")

    response = client_a.get(CONVERSATIONS)

    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 3
    assert [entry["key"] for entry in page["results"]] == [str(grace.id), str(contact_a.id), "+447700900555"]
    grace_entry, ada_entry, stranger_entry = page["results"]
    assert grace_entry["last_message"]["id"] == str(latest_grace.id)
    assert (grace_entry["unread_count"], grace_entry["message_count"]) == (0, 1)
    assert ada_entry["last_message"]["body"] == latest_ada.body
    assert (ada_entry["unread_count"], ada_entry["message_count"]) == (2, 4)
    assert (ada_entry["contact"], ada_entry["contact_name"], ada_entry["remote_number"]) == (
        str(contact_a.id),
        "Ada Lovelace",
        contact_a.phone,
    )
    assert stranger_entry["contact"] is None
    assert stranger_entry["last_message"]["id"] == str(stranger.id)
    assert (stranger_entry["remote_number"], stranger_entry["unread_count"]) == ("+447700900555", 1)
    assert client_a.get(CONVERSATIONS, {"unread": "true"}).json()["count"] == 2

    page_b = client_b.get(CONVERSATIONS).json()
    assert [entry["key"] for entry in page_b["results"]] == [str(contact_b.id)]
    assert page_b["results"][0]["last_message"]["body"] == "B's text"


@pytest.mark.django_db
def test_conversation_list_queries_do_not_grow_with_conversations(
    client_a, company_a, number_a, django_assert_max_num_queries
):
    """Listing 12 conversations takes no more queries than listing 2 (no query per conversation)."""
    for index in range(2):
        inbound(number_a, ContactFactory(company=company_a, phone=f"+1617555070{index}"), minutes=index)
    with django_assert_max_num_queries(50) as few:
        assert client_a.get(CONVERSATIONS).json()["count"] == 2
    for index in range(2, 12):
        outbound(number_a, ContactFactory(company=company_a, phone=f"+161755507{index:02d}"), minutes=index)

    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client_a.get(CONVERSATIONS).json()["count"] == 12


@pytest.mark.django_db
def test_conversation_messages_are_listed_oldest_first(client_a, client_b, number_a, contact_a):
    """A contact's conversation pages through its texts oldest first; B gets 404 for A's contact."""
    newest = inbound(number_a, contact_a, minutes=1, body="3rd")
    oldest = outbound(number_a, contact_a, minutes=9, body="1st")
    middle = inbound(number_a, contact_a, minutes=5, body="2nd")

    response = client_a.get(f"{CONVERSATIONS}/{contact_a.id}/messages")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [
        str(oldest.id),
        str(middle.id),
        str(newest.id),
    ]
    assert client_b.get(f"{CONVERSATIONS}/{contact_a.id}/messages").status_code == 404
    assert client_b.get(f"{CONVERSATIONS}/{contact_a.id}").status_code == 404


@pytest.mark.django_db
def test_conversation_detail_summarises_one_contact_and_one_number(
    client_a, client_b, company_a, number_a, contact_a
):
    """The detail of a contact or a number matches its list entry; a contact with no texts is empty."""
    inbound(number_a, contact_a, minutes=3, body="Hello")
    inbound(number_a, None, minutes=2, from_number="+447700900555", body="Unknown")
    silent = ContactFactory(company=company_a, phone="+16175550666")

    by_contact = client_a.get(f"{CONVERSATIONS}/{contact_a.id}").json()
    by_number = client_a.get(f"{CONVERSATIONS}/+447700900555/").json()
    empty = client_a.get(f"{CONVERSATIONS}/{silent.id}").json()
    by_number_messages = client_a.get(f"{CONVERSATIONS}/+447700900555/messages").json()

    assert (by_contact["unread_count"], by_contact["last_message"]["body"]) == (1, "Hello")
    assert (by_number["contact"], by_number["last_message"]["body"]) == (None, "Unknown")
    assert [row["body"] for row in by_number_messages["results"]] == ["Unknown"]
    assert (empty["message_count"], empty["last_message"], empty["remote_number"]) == (0, None, silent.phone)
    assert client_b.get(f"{CONVERSATIONS}/+447700900555").status_code == 404
    assert client_a.get(f"{CONVERSATIONS}/not-a-key").status_code == 404


@pytest.mark.django_db
def test_marking_a_conversation_read_touches_only_its_inbound_texts(
    client_a, client_b, company_a, number_a, contact_a
):
    """POST read marks the contact's unread inbound texts; other threads and B's attempt change nothing."""
    first = inbound(number_a, contact_a, minutes=5)
    second = inbound(number_a, contact_a, minutes=4)
    sent = outbound(number_a, contact_a, minutes=3)
    other = inbound(number_a, ContactFactory(company=company_a, phone="+16175550777"), minutes=2)

    refused = client_b.post(f"{CONVERSATIONS}/{contact_a.id}/read")
    assert refused.status_code == 404
    assert refreshed(first).read_at is None

    response = client_a.post(f"{CONVERSATIONS}/{contact_a.id}/read")

    assert response.status_code == 200
    assert response.json() == {"marked_read": 2}
    assert refreshed(first).read_at and refreshed(second).read_at
    assert refreshed(sent).read_at is None
    assert refreshed(other).read_at is None
    assert client_a.post(f"{CONVERSATIONS}/{contact_a.id}/read").json() == {"marked_read": 0}


@pytest.mark.django_db
def test_marking_a_number_conversation_read_stays_inside_the_company(client_a, client_b, number_a, number_b):
    """Two companies texted by the same unknown number: B marking it read leaves A's text unread."""
    texts_a = inbound(number_a, None, minutes=2, from_number="+447700900555")
    texts_b = inbound(number_b, None, minutes=2, from_number="+447700900555")

    response = client_b.post(f"{CONVERSATIONS}/+447700900555/read")

    assert response.json() == {"marked_read": 1}
    assert refreshed(texts_b).read_at is not None
    assert refreshed(texts_a).read_at is None


@pytest.mark.django_db
def test_conversations_need_a_signed_in_user(client, number_a, contact_a):
    """Anonymous requests get 401 and see nothing."""
    inbound(number_a, contact_a, minutes=1)

    assert client.get(CONVERSATIONS).status_code == 401
    assert client.post(f"{CONVERSATIONS}/{contact_a.id}/read").status_code == 401
    assert refreshed(messages_of(contact_a.company)[0]).read_at is None


@pytest.mark.django_db
def test_super_admin_sees_every_company_and_marks_read_only_inside_one(
    admin_client_api, company_a, number_a, number_b, contact_a, contact_b
):
    """Without X-Company-ID a super admin lists both companies' threads and may not mark one read."""
    inbound(number_a, contact_a, minutes=2)
    inbound(number_b, contact_b, minutes=1)

    listed = admin_client_api.get(CONVERSATIONS).json()
    refused = admin_client_api.post(f"{CONVERSATIONS}/{contact_a.id}/read")
    inside = admin_client_api.post(
        f"{CONVERSATIONS}/{contact_a.id}/read", HTTP_X_COMPANY_ID=str(company_a.id)
    )

    assert {entry["key"] for entry in listed["results"]} == {str(contact_a.id), str(contact_b.id)}
    assert refused.status_code == 400
    assert inside.json() == {"marked_read": 1}


@pytest.mark.django_db
def test_a_deleted_contacts_texts_fall_back_to_a_conversation_by_number(client_a, number_a, contact_a):
    """Once the contact is deleted, their texts show as the number's conversation, which still opens."""
    inbound(number_a, contact_a, minutes=2, body="Before")
    assert client_a.delete(f"/api/contacts/{contact_a.id}").status_code == 204

    [entry] = client_a.get(CONVERSATIONS).json()["results"]
    opened = client_a.get(f"{CONVERSATIONS}/{entry['key']}/messages")

    assert (entry["key"], entry["contact"], entry["unread_count"]) == (contact_a.phone, None, 1)
    assert [row["body"] for row in opened.json()["results"]] == ["Before"]
    assert client_a.post(f"{CONVERSATIONS}/{entry['key']}/read").json() == {"marked_read": 1}


@pytest.mark.django_db
def test_a_stop_arriving_while_the_text_is_queued_keeps_it_from_going_out(
    client_a,
    company_a,
    user_a,
    twilio_a,
    number_a,
    contact_a,
    twilio_fake,
    django_capture_on_commit_callbacks,
):
    """The task checks the opt-out again: the queued text fails with the opt-out reason and is not sent."""
    with django_capture_on_commit_callbacks() as queued:
        client_a.post(MESSAGES, {"contact": str(contact_a.id), "body": "Hi"}, format="json")
    with company_context(company_a):
        Contact.objects.filter(pk=contact_a.pk).update(sms_opted_out=True)

    for callback in queued:
        callback()

    assert twilio_fake.sent("Messages") == []
    [message] = messages_of(company_a)
    assert (message.status, message.error_message) == (
        "failed",
        "This contact has opted out of SMS (replied STOP).",
    )
    assert [notice.user_id for notice in notifications(company_a, kind="send_failed")] == [user_a.id]
