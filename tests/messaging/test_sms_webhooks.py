"""Twilio's SMS webhooks: signatures per company, inbound texts, replays, STOP/START, delivery status."""

import threading
from urllib.parse import urlparse

import pytest
from django.db import connection, transaction
from django.test import Client

from crm.models import Contact
from messaging.models import Notification, SmsMessage
from messaging.services.sms import receive_sms
from tenancy.context import company_context

from ..factories import (
    ContactFactory,
    PhoneNumberFactory,
    SmsMessageFactory,
    UserFactory,
)
from ..fakes import post_twilio_webhook, twilio_signature

INBOUND = "/api/twilio/sms/inbound"
STATUS = "/api/twilio/sms/status"
MESSAGES = "/api/sms/messages"


def text(to, *, body="Hello there", sid="SM" + "a" * 32, from_number="+16175550111", account=None) -> dict:
    """The form Twilio posts for an inbound text."""
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": account.account_sid if account else "AC" + "0" * 32,
        "From": from_number,
        "To": to.number,
        "Body": body,
        "NumMedia": "0",
    }


def counts(*companies) -> dict:
    """Rows an inbound webhook may write, per company."""
    result = {}
    for company in companies:
        with company_context(company):
            result[company.pk] = (
                SmsMessage.objects.count(),
                Contact.objects.count(),
                Notification.objects.count(),
            )
    return result


def messages_of(company, **lookup) -> list[SmsMessage]:
    with company_context(company):
        return list(SmsMessage.objects.filter(**lookup).select_related("contact"))


def notifications_of(company, **lookup) -> list[Notification]:
    with company_context(company):
        return list(Notification.objects.filter(**lookup))


def contact_state(contact) -> tuple:
    with company_context(contact.company_id):
        return Contact.objects.values_list("sms_opted_out", "sms_opted_out_at").get(pk=contact.pk)


# Signatures


@pytest.mark.django_db
@pytest.mark.parametrize("path", [INBOUND, f"{INBOUND}/"])
def test_a_signed_inbound_text_is_stored_for_the_company_and_its_owner_notified(
    path, company_a, company_b, user_a, twilio_a, twilio_b, number_a, contact_a
):
    """A text to A's number, signed with A's token, is A's: linked to the contact, owner notified."""
    params = text(number_a, account=twilio_a)

    response = post_twilio_webhook(Client(), path, params, twilio_a.auth_token)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert b"<Response/>" in response.content
    [message] = messages_of(company_a)
    assert (message.direction, message.status, message.twilio_sid) == (
        "inbound",
        "received",
        params["MessageSid"],
    )
    assert (message.from_number, message.to_number, message.body) == (
        "+16175550111",
        number_a.number,
        "Hello there",
    )
    assert (message.contact_id, message.phone_number_id, message.user_id) == (
        contact_a.id,
        number_a.id,
        user_a.id,
    )
    [notice] = notifications_of(company_a)
    assert (notice.user_id, notice.kind, notice.target_id) == (user_a.id, "sms_received", message.id)
    assert "Ada Lovelace" in notice.title
    assert messages_of(company_b) == [] and notifications_of(company_b) == []


@pytest.mark.django_db
@pytest.mark.parametrize("signature", ["forged", "missing", "other company's token", "other URL"])
def test_an_inbound_text_not_signed_by_the_numbers_company_is_refused(
    signature, company_a, company_b, twilio_a, twilio_b, number_a, number_b
):
    """Forged, missing, B-signed or signed-for-another-URL webhooks to A's number: 403, nothing written."""
    params = text(number_a, from_number="+16175550999")
    before = counts(company_a, company_b)
    client = Client()

    if signature == "forged":
        response = post_twilio_webhook(client, INBOUND, params, None, signature="bm90LWEtc2lnbmF0dXJl")
    elif signature == "missing":
        response = post_twilio_webhook(client, INBOUND, params, None)
    elif signature == "other company's token":
        response = post_twilio_webhook(client, INBOUND, params, twilio_b.auth_token)
    else:
        signed = twilio_signature(STATUS, params, twilio_a.auth_token)
        response = post_twilio_webhook(client, INBOUND, params, None, signature=signed)

    assert response.status_code == 403
    assert counts(company_a, company_b) == before


@pytest.mark.django_db
def test_a_text_to_a_number_no_company_owns_is_refused(company_a, twilio_a, number_a):
    """A webhook for an unknown number is a 403 that writes nothing."""
    params = {**text(number_a), "To": "+19995550000"}
    before = counts(company_a)

    response = post_twilio_webhook(Client(), INBOUND, params, twilio_a.auth_token)

    assert response.status_code == 403
    assert counts(company_a) == before


@pytest.mark.django_db
def test_an_inbound_text_is_visible_to_its_company_only(
    client_a, client_b, twilio_a, twilio_b, number_a, number_b
):
    """A's /api/sms/messages and conversations list the text to A's number; B's list nothing."""
    post_twilio_webhook(Client(), INBOUND, text(number_a, body="For A"), twilio_a.auth_token)

    listed_a = client_a.get(MESSAGES).json()["results"]
    listed_b = client_b.get(MESSAGES).json()["results"]

    assert [row["body"] for row in listed_a] == ["For A"]
    assert listed_b == []
    assert client_a.get("/api/sms/conversations").json()["count"] == 1
    assert client_b.get("/api/sms/conversations").json()["count"] == 0


@pytest.mark.django_db
def test_a_text_from_an_unknown_number_creates_a_contact_named_after_it(company_a, twilio_a, number_a):
    """The sender becomes a minimal contact, so the conversation has someone to belong to."""
    post_twilio_webhook(Client(), INBOUND, text(number_a, from_number="+447700900123"), twilio_a.auth_token)

    [message] = messages_of(company_a)
    assert message.contact is not None
    assert (message.contact.first_name, message.contact.phone) == ("+447700900123", "+447700900123")
    [notice] = notifications_of(company_a)
    assert notice.title == "SMS from +447700900123"


@pytest.mark.django_db
def test_a_text_to_an_unowned_number_notifies_the_company_managers(company_a, twilio_a, user_a):
    """A number with no owner user notifies the company's owners and admins instead."""
    admin = UserFactory(company=company_a, role="admin")
    UserFactory(company=company_a, role="member")
    shared = PhoneNumberFactory(company=company_a, user=None, number="+12025550303")

    post_twilio_webhook(Client(), INBOUND, text(shared), twilio_a.auth_token)

    assert {notice.user_id for notice in notifications_of(company_a)} == {user_a.id, admin.id}


# Replays


@pytest.mark.django_db
def test_a_replayed_webhook_is_stored_once(company_a, twilio_a, number_a, contact_a):
    """Twilio retrying the same MessageSid stores one message and one notification."""
    params = text(number_a)

    responses = [post_twilio_webhook(Client(), INBOUND, params, twilio_a.auth_token) for _ in range(3)]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert len(messages_of(company_a)) == 1
    assert len(notifications_of(company_a)) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_webhook_replayed_while_the_first_is_still_being_stored_is_stored_once(
    company_a, twilio_a, number_a
):
    """A replay racing an uncommitted first delivery waits on the unique SID and stores nothing more."""
    params = text(number_a, from_number="+447700900777", sid="SM" + "b" * 32)
    first_stored = threading.Event()
    replay_done = threading.Event()
    replay: dict = {}

    def post_replay():
        try:
            first_stored.wait(timeout=10)
            replay["response"] = post_twilio_webhook(Client(), INBOUND, params, twilio_a.auth_token)
        finally:
            replay_done.set()
            connection.close()

    thread = threading.Thread(target=post_replay)
    thread.start()
    with company_context(company_a), transaction.atomic():
        receive_sms(number_a, sid=params["MessageSid"], from_number=params["From"], body=params["Body"])
        first_stored.set()
        # The replay's insert blocks on the unique SID until this transaction commits.
        assert not replay_done.wait(timeout=1)
    thread.join(timeout=10)

    assert replay["response"].status_code == 200
    assert len(messages_of(company_a)) == 1
    with company_context(company_a):
        assert Contact.objects.filter(phone="+447700900777").count() == 1
    assert len(notifications_of(company_a)) == 1


@pytest.mark.django_db
def test_an_inbound_sms_whose_sid_another_company_holds_is_ignored(client, twilio_a, number_a, company_b):
    """A SID stored under company B is never overwritten nor shown to A, and the webhook is not a 500."""
    taken = SmsMessageFactory(
        phone_number__company=company_b, phone_number__number="+12025559901", twilio_sid="SM" + "f" * 32
    )
    params = {"MessageSid": taken.twilio_sid, "From": "+16175550999", "To": number_a.number, "Body": "Hi"}

    response = post_twilio_webhook(client, "/api/twilio/sms/inbound", params, twilio_a.auth_token)

    assert response.status_code == 200
    with company_context(number_a.company_id):
        assert not SmsMessage.objects.exists()


@pytest.mark.django_db
def test_a_malformed_sid_is_refused_before_anything_is_written(client, twilio_a, number_a):
    """A signed webhook with a SID that is not Twilio's format is a 400 and stores nothing."""
    params = {"MessageSid": "SM" + "0" * 40, "From": "+16175550999", "To": number_a.number, "Body": "Hi"}

    response = post_twilio_webhook(client, "/api/twilio/sms/inbound", params, twilio_a.auth_token)

    assert response.status_code == 400
    with company_context(number_a.company_id):
        assert not SmsMessage.objects.exists()


# Opt-out


@pytest.mark.django_db
@pytest.mark.parametrize("keyword", ["STOP", "stop", " Unsubscribe ", "STOPALL", "CANCEL", "END", "QUIT"])
def test_stop_opts_the_contact_out_and_a_send_is_then_refused(
    keyword, client_a, company_a, company_b, twilio_a, number_a, contact_a, twilio_fake
):
    """A STOP keyword records the opt-out on A's contacts with that number only; sending is then a 409."""
    twin = ContactFactory(company=company_a, phone=contact_a.phone)
    other_company = ContactFactory(company=company_b, phone=contact_a.phone)

    post_twilio_webhook(Client(), INBOUND, text(number_a, body=keyword), twilio_a.auth_token)

    assert contact_state(contact_a)[0] is True and contact_state(contact_a)[1] is not None
    assert contact_state(twin)[0] is True
    assert contact_state(other_company) == (False, None)
    sends_before = len(messages_of(company_a))
    response = client_a.post(MESSAGES, {"contact": str(contact_a.id), "body": "Still there?"}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"] == "This contact has opted out of SMS (replied STOP)."
    assert len(messages_of(company_a)) == sends_before
    assert twilio_fake.sent("Messages") == []
    assert client_a.get(f"/api/sms/conversations/{contact_a.id}").json()["sms_opted_out"] is True


@pytest.mark.django_db
def test_a_message_merely_containing_stop_does_not_opt_out(company_a, twilio_a, number_a, contact_a):
    """Only the keyword on its own counts: "please stop by tomorrow" is an ordinary text."""
    post_twilio_webhook(
        Client(), INBOUND, text(number_a, body="please stop by tomorrow"), twilio_a.auth_token
    )

    assert contact_state(contact_a) == (False, None)


@pytest.mark.django_db
@pytest.mark.parametrize("keyword", ["START", "unstop", "Yes"])
def test_start_opts_the_contact_back_in(
    keyword,
    client_a,
    company_a,
    twilio_a,
    number_a,
    contact_a,
    twilio_fake,
    django_capture_on_commit_callbacks,
):
    """After STOP, a START keyword re-enables texting the contact."""
    post_twilio_webhook(
        Client(), INBOUND, text(number_a, body="STOP", sid="SM" + "1" * 32), twilio_a.auth_token
    )
    post_twilio_webhook(
        Client(), INBOUND, text(number_a, body=keyword, sid="SM" + "2" * 32), twilio_a.auth_token
    )

    assert contact_state(contact_a) == (False, None)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(
            MESSAGES, {"contact": str(contact_a.id), "body": "Welcome back"}, format="json"
        )
    assert response.status_code == 201, response.content
    assert [request["Body"] for request in twilio_fake.sent("Messages")] == ["Welcome back"]


@pytest.mark.django_db
def test_a_replayed_stop_after_start_does_not_opt_out_again(company_a, twilio_a, number_a, contact_a):
    """Twilio retrying an old STOP after the contact sent START leaves them opted in."""
    stop = text(number_a, body="STOP", sid="SM" + "1" * 32)
    post_twilio_webhook(Client(), INBOUND, stop, twilio_a.auth_token)
    post_twilio_webhook(
        Client(), INBOUND, text(number_a, body="START", sid="SM" + "2" * 32), twilio_a.auth_token
    )

    post_twilio_webhook(Client(), INBOUND, stop, twilio_a.auth_token)

    assert contact_state(contact_a) == (False, None)


# Delivery status callbacks


def sent_message(client_a, contact_a, capture):
    """Send a text through the API and Twilio's fake; returns the stored message and the callback URL."""
    with capture(execute=True):
        response = client_a.post(MESSAGES, {"contact": str(contact_a.id), "body": "Ping"}, format="json")
    assert response.status_code == 201, response.content
    [message] = messages_of(contact_a.company)
    return message


def callback_path(twilio_fake) -> str:
    """The path and query of the StatusCallback our send gave Twilio, as Twilio will call it."""
    url = urlparse(twilio_fake.sent("Messages")[-1]["StatusCallback"])
    return f"{url.path}?{url.query}"


def status(message, value, **extra) -> dict:
    return {
        "MessageSid": message.twilio_sid,
        "SmsSid": message.twilio_sid,
        "MessageStatus": value,
        "SmsStatus": value,
        "From": message.from_number,
        "To": message.to_number,
        **extra,
    }


@pytest.mark.django_db
def test_delivery_callbacks_move_the_status_forward_only(
    client_a, company_a, twilio_a, number_a, contact_a, twilio_fake, django_capture_on_commit_callbacks
):
    """Delivered is recorded at the callback URL we gave Twilio; a late "sent" never undoes it."""
    message = sent_message(client_a, contact_a, django_capture_on_commit_callbacks)
    path = callback_path(twilio_fake)

    delivered = post_twilio_webhook(Client(), path, status(message, "delivered"), twilio_a.auth_token)
    late_sent = post_twilio_webhook(Client(), path, status(message, "sent"), twilio_a.auth_token)

    assert (delivered.status_code, late_sent.status_code) == (200, 200)
    [message] = messages_of(company_a)
    assert message.status == "delivered" and message.delivered_at is not None
    assert client_a.get(f"{MESSAGES}/{message.id}").json()["status"] == "delivered"


@pytest.mark.django_db
def test_a_callback_naming_the_number_only_in_its_url_is_accepted(
    client_a, company_a, twilio_a, number_a, contact_a, twilio_fake, django_capture_on_commit_callbacks
):
    """Without From in the body, the company comes from ?number= in the signed URL."""
    message = sent_message(client_a, contact_a, django_capture_on_commit_callbacks)
    params = status(message, "sent")
    del params["From"]

    response = post_twilio_webhook(Client(), callback_path(twilio_fake), params, twilio_a.auth_token)

    assert response.status_code == 200
    assert messages_of(company_a)[0].status == "sent"


@pytest.mark.django_db
def test_an_undelivered_callback_records_the_error_and_notifies_the_sender_once(
    client_a,
    user_a,
    company_a,
    company_b,
    twilio_a,
    twilio_b,
    number_a,
    contact_a,
    twilio_fake,
    django_capture_on_commit_callbacks,
):
    """Undelivered with Twilio's error code fails the message and tells its sender, even when replayed."""
    message = sent_message(client_a, contact_a, django_capture_on_commit_callbacks)
    params = status(message, "undelivered", ErrorCode="30003")

    for _ in range(2):
        response = post_twilio_webhook(Client(), callback_path(twilio_fake), params, twilio_a.auth_token)
        assert response.status_code == 200

    [message] = messages_of(company_a)
    assert (message.status, message.error_code) == ("undelivered", "30003")
    [notice] = notifications_of(company_a, kind="send_failed")
    assert (notice.user_id, notice.target_id) == (user_a.id, message.id)
    assert notifications_of(company_b) == []


@pytest.mark.django_db
def test_a_callback_for_an_unknown_sid_is_acknowledged_and_ignored(company_a, company_b, twilio_a, number_a):
    """Twilio hears 200 for a SID we never stored; nothing is written."""
    before = counts(company_a, company_b)
    params = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered", "From": number_a.number}

    response = post_twilio_webhook(Client(), STATUS, params, twilio_a.auth_token)

    assert response.status_code == 200
    assert counts(company_a, company_b) == before


@pytest.mark.django_db
@pytest.mark.parametrize("signature", ["missing", "other company's token"])
def test_a_status_callback_not_signed_by_the_company_changes_nothing(
    signature, company_a, twilio_a, twilio_b, number_a, contact_a
):
    """A forged "failed" for A's message, unsigned or signed with B's token, is a 403 and changes nothing."""
    message = SmsMessageFactory(phone_number=number_a, contact=contact_a, twilio_sid="SM" + "c" * 32)
    token = None if signature == "missing" else twilio_b.auth_token

    response = post_twilio_webhook(Client(), f"{STATUS}/", status(message, "failed"), token)

    assert response.status_code == 403
    [stored] = messages_of(company_a)
    assert stored.status == "sent"
    assert notifications_of(company_a) == []


@pytest.mark.django_db
def test_a_status_callback_cannot_touch_another_companys_message(
    company_a, company_b, twilio_a, twilio_b, number_a, number_b, contact_a
):
    """B's number, correctly signed by B, naming A's message SID, changes nothing of A's."""
    message = SmsMessageFactory(phone_number=number_a, contact=contact_a, twilio_sid="SM" + "d" * 32)
    params = {**status(message, "failed"), "From": number_b.number}

    response = post_twilio_webhook(Client(), STATUS, params, twilio_b.auth_token)

    assert response.status_code == 200
    assert messages_of(company_a)[0].status == "sent"
    assert notifications_of(company_a) == [] and notifications_of(company_b) == []
