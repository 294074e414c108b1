"""Twilio voice webhooks: signed per company, idempotent, ringing the owner, missed calls and voicemail."""

from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from django.test import Client

from calls.models import Call
from calls.services import MAX_CALL_SECONDS, _seconds
from messaging.models import Notification
from messaging.twilio import public_url
from tenancy.context import company_context

from ..factories import (
    CallFactory,
    ContactFactory,
    PhoneNumberFactory,
    TwilioSettingsFactory,
    UserFactory,
)
from ..fakes import post_twilio_webhook, twilio_signature
from ..unscoped import unscoped

CALLER = "+14155550777"
OWNER_PHONE = "+14155550188"


def voice_path(name: str, **query) -> str:
    """A voice webhook path as we hand it to Twilio, with our number in the query."""
    return f"/api/twilio/voice/{name}" + (f"?{urlencode(query)}" if query else "")


def twiml(response) -> ElementTree.Element:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return ElementTree.fromstring(response.content)  # noqa: S314 (our own TwiML, parsed in tests)


def everything_stored() -> tuple[list, list]:
    """Every call and notification of every company, deleted or not, as stored."""
    with unscoped():
        calls = list(Call._base_manager.order_by("pk").values())
    with unscoped():
        notifications = list(Notification._base_manager.order_by("pk").values())
    return calls, notifications


def calls_of(company) -> list[Call]:
    with company_context(company):
        return list(Call.objects.select_related("contact", "user").all())


def notifications_of(company) -> list[Notification]:
    with company_context(company):
        return list(Notification.objects.order_by("created_at"))


@pytest.fixture
def web():
    return Client()


@pytest.fixture
def twilio_settings_a(company_a):
    """Company A's Twilio settings, whose auth token signs the webhooks; no fake Twilio behind them."""
    return TwilioSettingsFactory(company=company_a)


@pytest.fixture
def twilio_settings_b(company_b):
    """Company B's Twilio settings, whose auth token signs the webhooks; no fake Twilio behind them."""
    return TwilioSettingsFactory(company=company_b)


@pytest.fixture
def owner_a(company_a):
    return UserFactory(company=company_a, phone=OWNER_PHONE)


@pytest.fixture
def webhook_number_a(company_a, owner_a, twilio_settings_a):
    """Company A's number that Twilio calls the webhooks for; it rings owner_a."""
    return PhoneNumberFactory(company=company_a, user=owner_a)


@pytest.fixture
def webhook_number_b(company_b, user_b, twilio_settings_b):
    """Company B's number that Twilio calls the webhooks for; it rings user_b."""
    return PhoneNumberFactory(company=company_b, user=user_b)


def inbound_params(number, call_sid="CA" + "1" * 32, caller=CALLER) -> dict:
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": caller,
        "To": number.number,
        "CallStatus": "ringing",
        "Direction": "inbound",
    }


def ring_inbound(web, number, token, **kwargs):
    return post_twilio_webhook(web, voice_path("inbound"), inbound_params(number, **kwargs), token)


def inbound_call(number, *, call_sid="CA" + "2" * 32, status=Call.Status.RINGING, **kwargs) -> Call:
    """An inbound call to `number` as the inbound webhook records it."""
    return CallFactory(
        phone_number=number,
        direction="inbound",
        from_number=CALLER,
        to_number=number.number,
        status=status,
        twilio_sid=call_sid,
        duration_seconds=None,
        **kwargs,
    )


# Signatures


def _inbound_case(webhook_number_a, web):
    return voice_path("inbound"), inbound_params(webhook_number_a)


def _dial_status_case(webhook_number_a, web):
    call = inbound_call(webhook_number_a)
    params = {"CallSid": call.twilio_sid, "DialCallStatus": "no-answer", "To": webhook_number_a.number}
    return voice_path("dial-status", number=webhook_number_a.number), params


def _recording_case(webhook_number_a, web):
    call = inbound_call(webhook_number_a, status=Call.Status.NO_ANSWER)
    params = {
        "CallSid": call.twilio_sid,
        "RecordingSid": "RE" + "3" * 32,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE3",
        "RecordingDuration": "14",
    }
    return voice_path("recording", number=webhook_number_a.number), params


def _status_case(webhook_number_a, web):
    call = inbound_call(webhook_number_a)
    params = {"CallSid": call.twilio_sid, "CallStatus": "completed", "CallDuration": "30"}
    return voice_path("status", number=webhook_number_a.number), params


def _connect_case(webhook_number_a, web):
    call = CallFactory(phone_number=webhook_number_a, status=Call.Status.INITIATED, twilio_sid=None)
    params = {"CallSid": "CA" + "4" * 32, "From": webhook_number_a.number, "To": OWNER_PHONE}
    return voice_path("connect", call=str(call.pk), number=webhook_number_a.number), params


WEBHOOK_CASES = {
    "inbound": _inbound_case,
    "dial-status": _dial_status_case,
    "recording": _recording_case,
    "status": _status_case,
    "connect": _connect_case,
}


@pytest.mark.parametrize("case", WEBHOOK_CASES.values(), ids=WEBHOOK_CASES.keys())
def test_a_correctly_signed_webhook_is_accepted_and_acts(
    case, web, webhook_number_a, twilio_settings_a, user_a
):
    """The control of the refusals below: the same request signed with the number's company token works."""
    path, params = case(webhook_number_a, web)
    before = everything_stored()

    response = post_twilio_webhook(web, path, params, twilio_settings_a.auth_token)

    assert response.status_code == 200, response.content
    assert everything_stored() != before


@pytest.mark.parametrize("case", WEBHOOK_CASES.values(), ids=WEBHOOK_CASES.keys())
@pytest.mark.parametrize("signing", ["missing", "invalid", "other-company-token", "tampered-body"])
def test_a_badly_signed_webhook_is_refused_and_writes_nothing(
    case, signing, web, webhook_number_a, webhook_number_b, twilio_settings_a, twilio_settings_b, user_a
):
    """Unsigned, wrongly signed, signed with company B's token, or altered after signing: 403, no writes."""
    path, params = case(webhook_number_a, web)
    before = everything_stored()

    if signing == "missing":
        response = post_twilio_webhook(web, path, params, None)
    elif signing == "invalid":
        response = post_twilio_webhook(web, path, params, None, signature="bm90LWEtc2lnbmF0dXJl")
    elif signing == "other-company-token":
        response = post_twilio_webhook(web, path, params, twilio_settings_b.auth_token)
    else:
        signature = twilio_signature(path, params, twilio_settings_a.auth_token)
        response = post_twilio_webhook(
            web, path, {**params, "From": "+19005550100"}, None, signature=signature
        )

    assert response.status_code == 403
    assert everything_stored() == before


def test_a_call_to_an_unknown_number_is_refused(web, webhook_number_a, twilio_settings_a):
    """A number no company owns resolves to no token: 403, nothing recorded."""
    params = {**inbound_params(webhook_number_a), "To": "+19995550100"}

    response = post_twilio_webhook(web, voice_path("inbound"), params, twilio_settings_a.auth_token)

    assert response.status_code == 403
    assert everything_stored() == ([], [])


# Inbound calls


def test_an_inbound_call_rings_the_number_owner_and_is_logged_for_that_company_only(
    web, webhook_number_a, owner_a, twilio_settings_a, webhook_number_b, client_a, client_b, company_a
):
    """The call is recorded in A with its contact, rings A's owner, and B's API never sees it."""
    contact = ContactFactory(company=company_a, phone=CALLER)

    response = ring_inbound(web, webhook_number_a, twilio_settings_a.auth_token)

    dial = twiml(response).find("Dial")
    assert dial.get("timeout") == "20"
    assert dial.get("action") == public_url(voice_path("dial-status", number=webhook_number_a.number))
    assert dial.find("Number").text == OWNER_PHONE
    [call] = calls_of(company_a)
    assert (call.direction, call.status, call.from_number, call.to_number) == (
        "inbound",
        "ringing",
        CALLER,
        webhook_number_a.number,
    )
    assert (call.contact, call.user, call.phone_number_id) == (contact, owner_a, webhook_number_a.pk)
    assert call.started_at is not None
    listed = client_a.get("/api/calls").json()["results"]
    assert [row["id"] for row in listed] == [str(call.pk)]
    assert listed[0]["contact"] == str(contact.pk)
    assert client_b.get("/api/calls").json()["results"] == []
    assert client_b.get(f"/api/calls/{call.pk}").status_code == 404


def test_a_replayed_inbound_call_is_stored_once(web, webhook_number_a, twilio_settings_a, company_a):
    """Twilio's retry of the same CallSid answers the same TwiML and records nothing new."""
    first = ring_inbound(web, webhook_number_a, twilio_settings_a.auth_token)
    second = ring_inbound(web, webhook_number_a, twilio_settings_a.auth_token)

    assert first.content == second.content
    assert len(calls_of(company_a)) == 1


def test_an_inbound_call_sid_of_another_company_is_not_recorded_twice(
    web, webhook_number_a, webhook_number_b, twilio_settings_a, twilio_settings_b, company_a, company_b
):
    """A CallSid company A already logged, replayed to B's number with B's token, stays A's only."""
    ring_inbound(web, webhook_number_a, twilio_settings_a.auth_token)

    response = ring_inbound(web, webhook_number_b, twilio_settings_b.auth_token)

    assert response.status_code == 200
    assert twiml(response).find("Dial") is None
    assert len(calls_of(company_a)) == 1
    assert calls_of(company_b) == []


def test_a_number_without_owner_goes_to_voicemail_and_tells_the_managers(
    web, company_a, twilio_settings_a, user_a, company_b, user_b
):
    """No one to ring: voicemail at once, the call is missed and A's owners are notified."""
    number = PhoneNumberFactory(company=company_a, user=None)

    root = twiml(ring_inbound(web, number, twilio_settings_a.auth_token))

    assert root.find("Dial") is None
    assert root.find("Record") is not None
    [call] = calls_of(company_a)
    assert call.status == "no-answer"
    [notice] = notifications_of(company_a)
    assert (notice.user_id, notice.kind, notice.target_id) == (user_a.pk, "missed_call", call.pk)
    assert notifications_of(company_b) == []


def test_an_owner_without_a_phone_gets_the_missed_call_and_voicemail(web, company_a, twilio_settings_a):
    """An owner with no phone cannot be rung: straight to voicemail, and the owner hears of it."""
    owner = UserFactory(company=company_a, phone="")
    number = PhoneNumberFactory(company=company_a, user=owner)

    root = twiml(ring_inbound(web, number, twilio_settings_a.auth_token))

    assert root.find("Record") is not None
    [notice] = notifications_of(company_a)
    assert (notice.user_id, notice.kind) == (owner.pk, "missed_call")


# Dial result, missed calls and voicemail


def test_an_unanswered_ring_is_a_missed_call_then_voicemail(
    web, webhook_number_a, owner_a, twilio_settings_a, company_a
):
    """No answer: the call is missed, the owner notified once, and the caller asked for a message."""
    call = inbound_call(webhook_number_a)
    params = {"CallSid": call.twilio_sid, "DialCallStatus": "no-answer", "To": webhook_number_a.number}
    path = voice_path("dial-status", number=webhook_number_a.number)

    first = post_twilio_webhook(web, path, params, twilio_settings_a.auth_token)
    replay = post_twilio_webhook(web, path, params, twilio_settings_a.auth_token)

    root = twiml(first)
    assert [element.tag for element in root] == ["Say", "Record", "Hangup"]
    record = root.find("Record")
    recording_url = public_url(voice_path("recording", number=webhook_number_a.number))
    assert record.get("maxLength") == "120"
    assert record.get("action") == recording_url
    assert record.get("recordingStatusCallback") == recording_url
    assert replay.content == first.content
    [stored] = calls_of(company_a)
    assert stored.status == "no-answer"
    [notice] = notifications_of(company_a)
    assert (notice.user_id, notice.kind, notice.target_type, notice.target_id) == (
        owner_a.pk,
        "missed_call",
        "call",
        call.pk,
    )


@pytest.mark.parametrize("dial_status", ["busy", "failed", "canceled"])
def test_a_busy_or_failed_ring_is_missed_too(
    dial_status, web, webhook_number_a, twilio_settings_a, company_a
):
    """Any ring that ends without an answer goes to voicemail and counts as missed."""
    call = inbound_call(webhook_number_a)
    params = {"CallSid": call.twilio_sid, "DialCallStatus": dial_status}

    response = post_twilio_webhook(
        web, voice_path("dial-status", number=webhook_number_a.number), params, twilio_settings_a.auth_token
    )

    assert twiml(response).find("Record") is not None
    assert calls_of(company_a)[0].status == "no-answer"
    assert [notice.kind for notice in notifications_of(company_a)] == ["missed_call"]


def test_a_missed_ring_after_the_caller_leg_completed_is_still_missed(
    web, webhook_number_a, twilio_settings_a, company_a
):
    """A status callback that overtook the dial result does not hide that nobody answered."""
    call = inbound_call(webhook_number_a, status=Call.Status.COMPLETED)
    params = {"CallSid": call.twilio_sid, "DialCallStatus": "no-answer"}

    post_twilio_webhook(
        web, voice_path("dial-status", number=webhook_number_a.number), params, twilio_settings_a.auth_token
    )

    assert calls_of(company_a)[0].status == "no-answer"
    assert [notice.kind for notice in notifications_of(company_a)] == ["missed_call"]


def test_an_answered_ring_completes_the_call_without_notifying(
    web, webhook_number_a, twilio_settings_a, company_a
):
    """The owner picked up: the call is completed with its talk time, and nobody is notified."""
    call = inbound_call(webhook_number_a)
    params = {"CallSid": call.twilio_sid, "DialCallStatus": "completed", "DialCallDuration": "42"}

    response = post_twilio_webhook(
        web, voice_path("dial-status", number=webhook_number_a.number), params, twilio_settings_a.auth_token
    )

    assert [element.tag for element in twiml(response)] == ["Hangup"]
    [stored] = calls_of(company_a)
    assert (stored.status, stored.duration_seconds) == ("completed", 42)
    assert stored.answered_at is not None and stored.ended_at is not None
    assert notifications_of(company_a) == []


def test_a_voicemail_is_stored_once_and_notified_once(
    web, webhook_number_a, owner_a, twilio_settings_a, company_a, company_b
):
    """The <Record> action and its status callback both report the recording: one voicemail, one notice."""
    call = inbound_call(webhook_number_a, status=Call.Status.NO_ANSWER)
    recording = {
        "CallSid": call.twilio_sid,
        "RecordingSid": "RE" + "5" * 32,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC5/Recordings/RE5",
        "RecordingDuration": "17",
    }
    path = voice_path("recording", number=webhook_number_a.number)

    action = post_twilio_webhook(
        web, path, {**recording, "To": webhook_number_a.number}, twilio_settings_a.auth_token
    )
    status = post_twilio_webhook(
        web, path, {**recording, "RecordingStatus": "completed"}, twilio_settings_a.auth_token
    )

    assert [element.tag for element in twiml(action)] == ["Hangup"]
    assert status.status_code == 200
    [stored] = calls_of(company_a)
    assert stored.is_voicemail is True
    assert (stored.recording_sid, stored.recording_url, stored.recording_duration_seconds) == (
        recording["RecordingSid"],
        recording["RecordingUrl"],
        17,
    )
    [notice] = notifications_of(company_a)
    assert (notice.user_id, notice.kind, notice.target_id) == (owner_a.pk, "voicemail", call.pk)
    assert notifications_of(company_b) == []


def test_a_recording_of_an_answered_call_is_not_a_voicemail(
    web, webhook_number_a, twilio_settings_a, company_a
):
    """A recording of a call someone answered is kept, without a voicemail notice."""
    call = inbound_call(webhook_number_a, status=Call.Status.COMPLETED)
    params = {
        "CallSid": call.twilio_sid,
        "RecordingSid": "RE" + "6" * 32,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC6/Recordings/RE6",
        "RecordingDuration": "300",
    }

    post_twilio_webhook(
        web, voice_path("recording", number=webhook_number_a.number), params, twilio_settings_a.auth_token
    )

    [stored] = calls_of(company_a)
    assert stored.recording_sid == params["RecordingSid"]
    assert stored.is_voicemail is False
    assert notifications_of(company_a) == []


def test_a_recording_with_a_malformed_url_is_ignored(web, webhook_number_a, twilio_settings_a, company_a):
    """A RecordingUrl that is not a URL is not stored, and no voicemail is announced."""
    call = inbound_call(webhook_number_a, status=Call.Status.NO_ANSWER)
    params = {"CallSid": call.twilio_sid, "RecordingSid": "RE" + "7" * 32, "RecordingUrl": "javascript:x"}

    response = post_twilio_webhook(
        web, voice_path("recording", number=webhook_number_a.number), params, twilio_settings_a.auth_token
    )

    assert response.status_code == 200
    [stored] = calls_of(company_a)
    assert (stored.recording_sid, stored.recording_url, stored.is_voicemail) == ("", "", False)
    assert notifications_of(company_a) == []


# Status callbacks


def post_status(web, number, token, call_sid, status, **extra):
    params = {"CallSid": call_sid, "CallStatus": status, **extra}
    return post_twilio_webhook(web, voice_path("status", number=number.number), params, token)


def test_status_callbacks_record_progress_and_never_step_back(
    web, webhook_number_a, twilio_settings_a, company_a
):
    """Ringing, answered, completed fill status, times and duration; a late 'ringing' changes nothing."""
    call = CallFactory(
        phone_number=webhook_number_a,
        status=Call.Status.INITIATED,
        twilio_sid="CA" + "8" * 32,
        duration_seconds=None,
    )
    sid, token = call.twilio_sid, twilio_settings_a.auth_token

    post_status(web, webhook_number_a, token, sid, "ringing")
    assert calls_of(company_a)[0].status == "ringing"
    post_status(web, webhook_number_a, token, sid, "in-progress", Timestamp="Tue, 04 Mar 2025 10:00:05 +0000")
    response = post_status(
        web,
        webhook_number_a,
        token,
        sid,
        "completed",
        CallDuration="95",
        Timestamp="Tue, 04 Mar 2025 10:01:40 +0000",
    )
    post_status(web, webhook_number_a, token, sid, "ringing", Timestamp="Tue, 04 Mar 2025 10:00:01 +0000")

    assert response.status_code == 200
    [stored] = calls_of(company_a)
    assert (stored.status, stored.duration_seconds) == ("completed", 95)
    assert stored.answered_at.isoformat() == "2025-03-04T10:00:05+00:00"
    assert stored.ended_at.isoformat() == "2025-03-04T10:01:40+00:00"


def test_a_status_callback_for_an_unknown_call_writes_nothing(web, webhook_number_a, twilio_settings_a):
    """An unknown CallSid is acknowledged with 200 and stores nothing."""
    before = everything_stored()

    response = post_status(
        web, webhook_number_a, twilio_settings_a.auth_token, "CA" + "9" * 32, "completed", CallDuration="5"
    )

    assert response.status_code == 200
    assert everything_stored() == before


def test_a_missed_call_stays_missed_when_the_caller_hangs_up(
    web, webhook_number_a, twilio_settings_a, company_a
):
    """The caller leg's 'completed' fills the end time and duration but keeps the call missed."""
    call = inbound_call(webhook_number_a, status=Call.Status.NO_ANSWER)

    post_status(
        web, webhook_number_a, twilio_settings_a.auth_token, call.twilio_sid, "completed", CallDuration="48"
    )

    [stored] = calls_of(company_a)
    assert (stored.status, stored.duration_seconds) == ("no-answer", 48)
    assert stored.ended_at is not None
    assert stored.answered_at is None


def test_an_absurd_call_duration_is_not_stored():
    """Durations beyond a day are not call durations; they never reach the integer column."""
    assert _seconds(str(MAX_CALL_SECONDS)) == MAX_CALL_SECONDS
    assert _seconds("99999999999999999999") is None


# Connecting a click-to-call


def test_connect_dials_the_contact_from_the_company_number(
    web, webhook_number_a, twilio_settings_a, company_a
):
    """When the caller answers, Twilio is told to dial the contact with our number as caller ID."""
    call = CallFactory(phone_number=webhook_number_a, status=Call.Status.INITIATED, twilio_sid=None)
    path = voice_path("connect", call=str(call.pk), number=webhook_number_a.number)
    params = {"CallSid": "CA" + "a" * 32, "From": webhook_number_a.number, "To": OWNER_PHONE}

    root = twiml(post_twilio_webhook(web, path, params, twilio_settings_a.auth_token))

    dial = root.find("Dial")
    assert dial.get("callerId") == webhook_number_a.number
    assert dial.find("Number").text == call.to_number
    assert calls_of(company_a)[0].twilio_sid == params["CallSid"]


def test_connect_never_dials_another_companys_call(
    web, webhook_number_a, webhook_number_b, twilio_settings_a, company_b
):
    """A call id of company B, asked for through A's number and token, gets empty TwiML."""
    call_b = CallFactory(phone_number=webhook_number_b, status=Call.Status.INITIATED, twilio_sid=None)
    path = voice_path("connect", call=str(call_b.pk), number=webhook_number_a.number)
    before = everything_stored()

    response = post_twilio_webhook(web, path, {"CallSid": "CA" + "b" * 32}, twilio_settings_a.auth_token)

    root = twiml(response)
    assert list(root) == []
    assert call_b.to_number.encode() not in response.content
    assert webhook_number_b.number.encode() not in response.content
    assert everything_stored() == before


@pytest.mark.parametrize("call_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_connect_with_an_unknown_call_gets_empty_twiml(call_id, web, webhook_number_a, twilio_settings_a):
    """A malformed or unknown call id connects nobody."""
    path = voice_path("connect", call=call_id, number=webhook_number_a.number)

    response = post_twilio_webhook(web, path, {"CallSid": "CA" + "c" * 32}, twilio_settings_a.auth_token)

    assert list(twiml(response)) == []


def test_connect_for_a_finished_call_connects_nobody(web, webhook_number_a, twilio_settings_a):
    """A call that already failed or ended is not connected again."""
    call = CallFactory(phone_number=webhook_number_a, status=Call.Status.FAILED, twilio_sid=None)
    path = voice_path("connect", call=str(call.pk), number=webhook_number_a.number)

    response = post_twilio_webhook(web, path, {"CallSid": "CA" + "d" * 32}, twilio_settings_a.auth_token)

    assert list(twiml(response)) == []
